"""The world written as multi-paragraph encyclopaedia-style documents, one per entity.

Sentence variants are drawn per entity from a generator seeded with the entity's name, so a document
changes only when its entity's facts change (the freshness update touches only what it must).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from tunebench.strategies.world import Company, Person, Product, Town, World


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    text: str


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")


def town_doc(town: Town, seed: int) -> Doc:
    rng = _rng(seed, town.name)
    intro = rng.choice([
        f"{town.name} is a town in the {town.region} region. It lies on the banks of the {town.river} River.",
        f"Situated on the {town.river} River, {town.name} is one of the towns of the {town.region} region.",
    ])
    history = rng.choice([
        f"The town was founded in {town.founded} as a ferry crossing and grew around its market square.",
        f"Records show that {town.name} was founded in {town.founded}; its old bridge still carries traffic.",
    ])
    people = rng.choice([
        f"{town.name} has a population of {town.population}. The current mayor is {town.mayor}.",
        f"About {town.population} people live in {town.name}, and the town is governed by mayor {town.mayor}.",
    ])
    return Doc(f"town-{slug(town.name)}", town.name, f"{intro} {history}\n\n{people}")


def company_doc(company: Company, seed: int) -> Doc:
    rng = _rng(seed, company.name)
    intro = rng.choice([
        f"{company.name} is a {company.industry} company headquartered in {company.hq}.",
        f"Based in the town of {company.hq}, {company.name} makes {company.industry} goods.",
    ])
    origin = rng.choice([
        f"It was founded in {company.founded} by {company.founder}.",
        f"{company.founder} founded the firm in {company.founded}, starting from a rented workshop.",
    ])
    today = rng.choice([
        f"The chief executive of {company.name} is {company.ceo}. The company employs {company.employees} people.",
        f"Today {company.name} has {company.employees} employees and is run by chief executive {company.ceo}.",
    ])
    return Doc(f"company-{slug(company.name)}", company.name, f"{intro} {origin}\n\n{today}")


def person_doc(person: Person, seed: int) -> Doc:
    rng = _rng(seed, person.name)
    intro = rng.choice([
        f"{person.name} is a {person.profession} who was born in {person.born_in} in {person.born}.",
        f"Born in {person.born} in the town of {person.born_in}, {person.name} trained as a {person.profession}.",
    ])
    work = rng.choice([
        f"{person.first} works for {person.employer}.",
        f"{person.name} is currently employed by {person.employer}.",
    ])
    leisure = rng.choice([
        f"Outside work, {person.first} is known for a passion for {person.hobby}.",
        f"Friends say that {person.last} spends most weekends on {person.hobby}.",
    ])
    return Doc(f"person-{slug(person.name)}", person.name, f"{intro}\n\n{work} {leisure}")


def product_doc(product: Product, seed: int) -> Doc:
    rng = _rng(seed, product.name)
    intro = rng.choice([
        f"The {product.name} is a {product.kind} made by {product.maker}. It was launched in {product.launched}.",
        f"{product.maker} launched the {product.name}, a {product.kind}, in {product.launched}.",
    ])
    details = rng.choice([
        f"The {product.name} sells for {product.price} crowns and is available in {product.colour}.",
        f"It comes in {product.colour} and costs {product.price} crowns.",
    ])
    return Doc(f"product-{slug(product.name)}", product.name, f"{intro}\n\n{details}")


def world_docs(world: World, seed: int) -> list[Doc]:
    """Every entity's document, in a stable order."""
    return ([town_doc(t, seed) for t in world.towns] + [company_doc(c, seed) for c in world.companies]
            + [person_doc(p, seed) for p in world.people] + [product_doc(p, seed) for p in world.products])
