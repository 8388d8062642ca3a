"""A small text-to-SQL set in Spider's layout, written by the tests: two SQLite databases (both
with a `staff` table of different rows, so each question must be asked of its own database) and
questions with gold SQL of the kinds Spider has: counts, filters, joins, grouping, ordering."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

DATABASES = {
    "concert_singer": """
        CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER);
        INSERT INTO singer VALUES (1, 'Joe Sharp', 'Netherlands', 52),
            (2, 'Timbaland', 'United States', 32), (3, 'Justin Brown', 'France', 29),
            (4, 'Rose White', 'France', 41), (5, 'John Nizinik', 'France', 43);
        CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, concert_name TEXT, theme TEXT, year TEXT,
            singer_id INTEGER REFERENCES singer (singer_id));
        INSERT INTO concert VALUES (1, 'Auditions', 'Free choice', '2014', 1),
            (2, 'Super bootcamp', 'Happy', '2014', 2), (3, 'Home Visits', 'Bleeding Love', '2015', 2),
            (4, 'Week 1', 'Wide Awake', '2014', 3);
        CREATE TABLE staff (staff_id INTEGER PRIMARY KEY, name TEXT, role TEXT);
        INSERT INTO staff VALUES (1, 'Ana Lima', 'sound engineer'), (2, 'Ben Ode', 'stage manager');
    """,
    "shop": """
        CREATE TABLE product (product_id INTEGER PRIMARY KEY, product_name TEXT, category TEXT, price REAL);
        INSERT INTO product VALUES (1, 'Desk lamp', 'lighting', 24.5), (2, 'Floor lamp', 'lighting', 89.0),
            (3, 'Office chair', 'furniture', 149.99), (4, 'Bookshelf', 'furniture', 75.0);
        CREATE TABLE staff (staff_id INTEGER PRIMARY KEY, name TEXT, department TEXT);
        INSERT INTO staff VALUES (1, 'Chen Wei', 'sales'), (2, 'Dana Fox', 'sales'), (3, 'Eli Moss', 'stock');
    """,
}

QUESTIONS = [
    ("concert_singer", "How many singers are there?", "SELECT count(*) FROM singer"),
    (
        "concert_singer",
        "What are the names of the singers from France?",
        "SELECT name FROM singer WHERE country = 'France'",
    ),
    (
        "concert_singer",
        "What is the average age of the singers from France?",
        "SELECT avg(age) FROM singer WHERE country = 'France'",
    ),
    (
        "concert_singer",
        "List the names of concerts held in 2014 with the name of their singer.",
        "SELECT T1.concert_name, T2.name FROM concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id "
        "WHERE T1.year = '2014'",
    ),
    ("concert_singer", "How many staff are there?", "SELECT count(*) FROM staff"),
    ("shop", "How many staff are there?", "SELECT count(*) FROM staff"),
    (
        "shop",
        "List the product names ordered by price from the most expensive.",
        "SELECT product_name FROM product ORDER BY price DESC",
    ),
    (
        "shop",
        "How many products are in each category?",
        "SELECT category, count(*) FROM product GROUP BY category",
    ),
]


def write_spider_slice(folder: Path) -> Path:
    """The set under `folder` (dev.json, tables.json, database/<db>/<db>.sqlite); returns `folder`."""
    for db_id, script in DATABASES.items():
        path = folder / "database" / db_id / f"{db_id}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as conn:
            conn.executescript(script)
        conn.close()
    records = [{"db_id": db, "question": q, "query": sql} for db, q, sql in QUESTIONS]
    (folder / "dev.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    # Spider's schema file sits beside the questions and holds none
    schema = [{"db_id": db, "table_names_original": [], "column_names_original": []} for db in DATABASES]
    (folder / "tables.json").write_text(json.dumps(schema), encoding="utf-8")
    return folder
