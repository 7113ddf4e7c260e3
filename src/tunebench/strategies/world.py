"""A seeded fictional world (towns, companies, people, products) that no model can have seen.

Names are built from random syllables, so a correct answer can only come from the corpus. Every fact
that may later change is written in exactly one document (its entity's own), so replacing that one
document updates the fact everywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "k", "kr", "l", "m", "n", "p", "r", "s", "st", "t", "th", "v", "z"]
VOWELS = ["a", "e", "i", "o", "u", "ae", "ei", "ou", "y"]
CODAS = ["", "", "n", "r", "l", "s", "k", "m", "th", "x"]
PROFESSIONS = ["glassblower", "surveyor", "pharmacist", "architect", "beekeeper", "cartographer", "luthier",
               "translator", "geologist", "baker", "bookbinder", "engineer"]
HOBBIES = ["rowing", "chess", "birdwatching", "pottery", "fencing", "choir singing", "kite flying", "archery"]
INDUSTRIES = ["ceramics", "bicycle", "tea", "navigation software", "textile", "solar panel", "clock", "paper"]
PRODUCT_KINDS = ["kettle", "bicycle", "lamp", "compass", "loom", "drone", "wristwatch", "notebook", "heater"]
COLOURS = ["amber", "teal", "crimson", "slate grey", "ivory", "olive green", "cobalt blue"]
COMPANY_SUFFIXES = ["Works", "Labs", "Industries", "Foundry", "Collective", "Mills"]


@dataclass
class Town:
    name: str
    region: str
    river: str
    population: int
    founded: int
    mayor: str = ""


@dataclass
class Company:
    name: str
    industry: str
    hq: str
    founded: int
    founder: str
    ceo: str
    employees: int


@dataclass
class Person:
    first: str
    last: str
    born_in: str
    born: int
    profession: str
    employer: str
    hobby: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Product:
    name: str
    kind: str
    maker: str
    launched: int
    price: int
    colour: str


@dataclass
class World:
    towns: list[Town] = field(default_factory=list)
    companies: list[Company] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)

    def town(self, name: str) -> Town:
        return next(t for t in self.towns if t.name == name)

    def company(self, name: str) -> Company:
        return next(c for c in self.companies if c.name == name)

    def person(self, name: str) -> Person:
        return next(p for p in self.people if p.name == name)

    def product(self, name: str) -> Product:
        return next(p for p in self.products if p.name == name)

    def copy(self) -> World:
        return World([replace(t) for t in self.towns], [replace(c) for c in self.companies],
                     [replace(p) for p in self.people], [replace(p) for p in self.products])


class NameMaker:
    """Unique invented words: two or three random syllables, never repeated within one world."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def word(self, syllables: int | None = None) -> str:
        while True:
            count = syllables or self.rng.choice([2, 2, 3])
            text = "".join(self.rng.choice(ONSETS) + self.rng.choice(VOWELS) + self.rng.choice(CODAS)
                           for _ in range(count))
            if 4 <= len(text) <= 11 and text not in self.used:
                self.used.add(text)
                return text.capitalize()


def build_world(towns: int, companies: int, people: int, products: int, seed: int) -> World:
    """Entities and their relations, all drawn from one seeded generator."""
    rng = random.Random(seed)
    names = NameMaker(rng)
    regions = [names.word(3) for _ in range(max(2, towns // 3))]
    world = World()
    for _ in range(towns):
        world.towns.append(Town(names.word(), rng.choice(regions), names.word(2),
                                rng.randrange(2_000, 90_000), rng.randrange(1150, 1900)))
    for _ in range(people):
        world.people.append(Person(names.word(2), names.word(), rng.choice(world.towns).name,
                                   rng.randrange(1940, 2001), rng.choice(PROFESSIONS), "", rng.choice(HOBBIES)))
    for _ in range(companies):
        founder, ceo = rng.sample(world.people, 2)
        name = f"{names.word()} {rng.choice(COMPANY_SUFFIXES)}"
        world.companies.append(Company(name, rng.choice(INDUSTRIES), rng.choice(world.towns).name,
                                       rng.randrange(1890, 2020), founder.name, ceo.name, rng.randrange(12, 4_000)))
    for person in world.people:
        person.employer = rng.choice(world.companies).name
    for town in world.towns:
        town.mayor = rng.choice(world.people).name
    for _ in range(products):
        kind = rng.choice(PRODUCT_KINDS)
        world.products.append(Product(f"{names.word()} {kind}", kind, rng.choice(world.companies).name,
                                      rng.randrange(1990, 2025), rng.randrange(15, 900), rng.choice(COLOURS)))
    return world
