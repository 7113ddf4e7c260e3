"""Knowledge QA and freshness tasks over the fictional world: facts -> questions -> seeded splits.

One question per fact; train and test facts are disjoint, so a fine-tuned model cannot answer a test
question by having seen it. The freshness facts are drawn first and kept out of both splits: after
the update, their questions have new answers (and the old answers are kept to count stale replies).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tunebench.strategies.documents import Doc, company_doc, person_doc, product_doc, slug, town_doc, world_docs
from tunebench.strategies.world import World, build_world


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answers: tuple[str, ...]
    split: str  # train | test | fresh
    doc_ids: tuple[str, ...] = ()
    kind: str = ""
    stale_answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fact:
    key: str
    kind: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]


@dataclass
class KnowledgeTask:
    docs: list[Doc]
    train: list[QAItem]
    test: list[QAItem]
    fresh: list[QAItem] = field(default_factory=list)
    updated_docs: list[Doc] = field(default_factory=list)  # replace the docs with the same ids
    source: str = "generated"


CHANGEABLE = ("town.population", "town.mayor", "company.hq", "company.ceo", "person.employer", "product.price")


def _person_answers(name: str) -> tuple[str, ...]:
    return (name, name.split()[-1])


def _company_answers(name: str) -> tuple[str, ...]:
    return (name, name.split()[0])


def _fact(kind: str, entity: str, questions: tuple[str, ...], answers: tuple[str, ...], *docs: str) -> Fact:
    return Fact(f"{kind}:{entity}", kind, questions, answers, tuple(docs))


def world_facts(world: World) -> list[Fact]:
    """Every fact the corpus states, with question paraphrases, gold answers + aliases and source docs."""
    facts: list[Fact] = []
    for t in world.towns:
        d = f"town-{slug(t.name)}"
        facts += [
            _fact("town.river", t.name, (f"Which river flows through {t.name}?", f"On which river does {t.name} lie?"),
                  (t.river, f"{t.river} River"), d),
            _fact("town.population", t.name, (f"What is the population of {t.name}?",
                  f"How many people live in {t.name}?"), (str(t.population), f"{t.population:,}"), d),
            _fact("town.mayor", t.name, (f"Who is the mayor of {t.name}?", f"Who governs {t.name} as mayor?"),
                  _person_answers(t.mayor), d),
            _fact("town.founded", t.name, (f"In what year was {t.name} founded?",
                  f"When was the town of {t.name} founded?"), (str(t.founded),), d),
        ]
    for c in world.companies:
        d = f"company-{slug(c.name)}"
        facts += [
            _fact("company.hq", c.name, (f"Where is {c.name} headquartered?", f"In which town is {c.name} based?"),
                  (c.hq,), d),
            _fact("company.founder", c.name, (f"Who founded {c.name}?", f"Who is the founder of {c.name}?"),
                  _person_answers(c.founder), d),
            _fact("company.founded", c.name, (f"In what year was {c.name} founded?",), (str(c.founded),), d),
            _fact("company.ceo", c.name, (f"Who is the chief executive of {c.name}?", f"Who runs {c.name}?"),
                  _person_answers(c.ceo), d),
            _fact("company.employees", c.name, (f"How many people does {c.name} employ?",), (str(c.employees),), d),
        ]
    for p in world.people:
        d = f"person-{slug(p.name)}"
        facts += [
            _fact("person.born_in", p.name, (f"In which town was {p.name} born?", f"Where was {p.name} born?"),
                  (p.born_in,), d),
            _fact("person.born", p.name, (f"In what year was {p.name} born?",), (str(p.born),), d),
            _fact("person.profession", p.name, (f"What is the profession of {p.name}?",
                  f"What does {p.name} do for a living?"), (p.profession,), d),
            _fact("person.employer", p.name, (f"Which company does {p.name} work for?", f"Who employs {p.name}?"),
                  _company_answers(p.employer), d),
            _fact("person.hobby", p.name, (f"What hobby is {p.name} known for?",), (p.hobby,), d),
            _fact("two_hop.employer_hq", p.name, (f"In which town is the employer of {p.name} headquartered?",),
                  (world.company(p.employer).hq,), d, f"company-{slug(p.employer)}"),
        ]
    for x in world.products:
        d = f"product-{slug(x.name)}"
        facts += [
            _fact("product.maker", x.name, (f"Which company makes the {x.name}?", f"Who manufactures the {x.name}?"),
                  _company_answers(x.maker), d),
            _fact("product.launched", x.name, (f"In what year was the {x.name} launched?",), (str(x.launched),), d),
            _fact("product.price", x.name, (f"How much does the {x.name} cost?", f"What is the price of the {x.name}?"),
                  (f"{x.price} crowns", str(x.price)), d),
            _fact("product.colour", x.name, (f"What colour is the {x.name} available in?",), (x.colour,), d),
            _fact("two_hop.maker_hq", x.name, (f"In which town is the company that makes the {x.name} based?",),
                  (world.company(x.maker).hq,), d, f"company-{slug(x.maker)}"),
        ]
    return facts


def _change_one(world: World, kind: str, entity: str, rng: random.Random) -> None:
    """Give one changeable fact a new value, different from the old one."""
    def other(options: list[str], current: str) -> str:
        return rng.choice([o for o in options if o != current])

    people = [p.name for p in world.people]
    towns = [t.name for t in world.towns]
    companies = [c.name for c in world.companies]
    if kind == "town.population":
        town = world.town(entity)
        town.population = town.population + rng.choice([-1, 1]) * rng.randrange(300, 5_000)
    elif kind == "town.mayor":
        world.town(entity).mayor = other(people, world.town(entity).mayor)
    elif kind == "company.hq":
        world.company(entity).hq = other(towns, world.company(entity).hq)
    elif kind == "company.ceo":
        world.company(entity).ceo = other(people, world.company(entity).ceo)
    elif kind == "person.employer":
        world.person(entity).employer = other(companies, world.person(entity).employer)
    elif kind == "product.price":
        product = world.product(entity)
        product.price = product.price + rng.randrange(5, 120)
    else:
        raise ValueError(f"not a changeable fact kind: {kind}")


_DOC_WRITERS: dict[str, Callable] = {"town": town_doc, "company": company_doc, "person": person_doc,
                                     "product": product_doc}
_LOOKUP = {"town": World.town, "company": World.company, "person": World.person, "product": World.product}


def changed_world(world: World, changes: list[Fact], seed: int) -> tuple[World, list[Doc]]:
    """A copy of the world with the given facts changed, and the rewritten documents of their entities."""
    rng = random.Random(seed + 1)
    new = world.copy()
    touched: dict[str, tuple[str, str]] = {}
    for fact in changes:
        entity = fact.key.split(":", 1)[1]
        _change_one(new, fact.kind, entity, rng)
        touched[fact.doc_ids[0]] = (fact.kind.split(".")[0], entity)
    docs = [_DOC_WRITERS[group](_LOOKUP[group](new, entity), seed) for group, entity in touched.values()]
    return new, docs


def _items(facts: list[Fact], split: str, rng: random.Random, prefix: str) -> list[QAItem]:
    return [QAItem(f"{prefix}-{i:04d}", rng.choice(f.questions), f.answers, split, f.doc_ids, f.kind)
            for i, f in enumerate(facts)]


def knowledge_task(cfg_world, n_test: int, n_train: int, seed: int) -> KnowledgeTask:
    """The generated knowledge-QA task with its freshness update, all from one seed."""
    world = build_world(cfg_world.towns, cfg_world.companies, cfg_world.people, cfg_world.products, seed)
    rng = random.Random(seed)
    facts = world_facts(world)
    changeable = [f for f in facts if f.kind in CHANGEABLE]
    changes = rng.sample(changeable, min(cfg_world.changed_facts, len(changeable)))
    changed_entities = {f.key.split(":", 1)[1] for f in changes}
    # Two-hop facts through a changed entity would change silently; keep them out of every split.
    stable = [f for f in facts if f not in changes
              and not (f.kind.startswith("two_hop") and _touches(f, changed_entities, world))]
    rng.shuffle(stable)
    if len(stable) < n_test + 1:
        raise ValueError(f"world too small: {len(stable)} facts for {n_test} test questions")
    test = _items(stable[:n_test], "test", rng, "kq-test")
    train = _items(stable[n_test : n_test + n_train], "train", rng, "kq-train")
    new_world, updated_docs = changed_world(world, changes, seed)
    new_facts = {f.key: f for f in world_facts(new_world)}
    fresh = [QAItem(f"kq-fresh-{i:04d}", rng.choice(f.questions), new_facts[f.key].answers, "fresh", f.doc_ids,
                    f.kind, stale_answers=f.answers) for i, f in enumerate(changes)]
    return KnowledgeTask(world_docs(world, seed), train, test, fresh, updated_docs)


def _touches(fact: Fact, entities: set[str], world: World) -> bool:
    entity = fact.key.split(":", 1)[1]
    if fact.kind == "two_hop.employer_hq":
        employer = world.person(entity).employer
        return entity in entities or employer in entities
    maker = world.product(entity).maker
    return maker in entities
