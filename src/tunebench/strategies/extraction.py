"""The format task: turn a short booking message into a JSON object with fixed keys and types.

What is measured is behaviour (valid JSON, exact keys, strict types, values copied right), not
knowledge: every value is in the message. Messages vary wording, field order and distractors.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

from tunebench.strategies.world import NameMaker

EVENT_KINDS = ["Jazz Night", "Harvest Fair", "Chess Open", "Lantern Parade", "Film Evening", "Choir Concert"]


class Booking(BaseModel):
    """The target schema. Strict: "3" is not an integer and 3 is not a float-less price."""

    model_config = ConfigDict(extra="forbid", strict=True)
    customer: StrictStr
    event: StrictStr
    seats: StrictInt
    total_price: StrictFloat | StrictInt
    wheelchair_access: StrictBool


FIELD_TYPES = {"customer": "string", "event": "string", "seats": "integer", "total_price": "number",
               "wheelchair_access": "boolean"}


@dataclass(frozen=True)
class FormatItem:
    id: str
    text: str
    gold: dict[str, Any]
    split: str

    @property
    def gold_json(self) -> str:
        return json.dumps(self.gold)


def _message(rng: random.Random, gold: dict[str, Any], phone: str) -> str:
    access = rng.choice(["I will need wheelchair access.", "Please make sure there is wheelchair access."]) \
        if gold["wheelchair_access"] else rng.choice(["No wheelchair access is needed.", "We need no special access."])
    parts = [
        rng.choice([f"My name is {gold['customer']}.", f"This is {gold['customer']} writing.",
                    f"Booking made by {gold['customer']}."]),
        rng.choice([f"I would like {gold['seats']} seats for the {gold['event']}.",
                    f"Please reserve {gold['seats']} tickets to the {gold['event']}."]),
        rng.choice([f"The total comes to {gold['total_price']:.2f} crowns.",
                    f"I have paid {gold['total_price']:.2f} crowns in total."]),
        access,
    ]
    rng.shuffle(parts[1:])
    if rng.random() < 0.5:
        parts.append(rng.choice([f"You can reach me on {phone}.", f"My phone number is {phone}."]))
    return " ".join(parts)


def format_items(n_train: int, n_test: int, seed: int) -> tuple[list[FormatItem], list[FormatItem]]:
    """Seeded train and test booking messages with their gold JSON objects."""
    rng = random.Random(seed + 7)
    names = NameMaker(rng)
    items = []
    for i in range(n_train + n_test):
        seats = rng.randrange(1, 9)
        gold = {
            "customer": f"{names.word(2)} {names.word()}",
            "event": f"{names.word()} {rng.choice(EVENT_KINDS)}",
            "seats": seats,
            "total_price": round(seats * rng.randrange(800, 6_000) / 100, 2),
            "wheelchair_access": rng.random() < 0.4,
        }
        phone = f"{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
        split = "train" if i < n_train else "test"
        items.append(FormatItem(f"fmt-{split}-{i:04d}", _message(rng, gold, phone), gold, split))
    return items[:n_train], items[n_train:]


_PLACEHOLDERS = {"string": '"<text>"', "integer": "<integer>", "number": "<number>", "boolean": "<true or false>"}


def shape_text() -> str:
    """The object's shape as the model sees it: keys in order, a typed placeholder for each value.
    (A small model copies a full JSON schema back instead of filling it; the validation uses the schema.)"""
    return "{" + ", ".join(f'"{key}": {_PLACEHOLDERS[kind]}' for key, kind in FIELD_TYPES.items()) + "}"


def keys_text() -> str:
    return ", ".join(f'"{key}" ({kind})' for key, kind in FIELD_TYPES.items())
