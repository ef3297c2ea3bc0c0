#!/usr/bin/env python3
"""A small stateful application for the demo: it keeps writing orders into a
SQLite database (WAL mode). SIGUSR1 freezes it (checkpoint, then no writes)
the way a pre-backup hook would; SIGUSR2 thaws it. It writes its state to
STATE_FILE so the demo knows when it is frozen and how many rows it had."""
import os
import random
import signal
import sqlite3
import sys
import time

db_path, state_file = sys.argv[1], sys.argv[2]
frozen = False


def freeze(*_):
    global frozen
    frozen = True


def thaw(*_):
    global frozen
    frozen = False


signal.signal(signal.SIGUSR1, freeze)
signal.signal(signal.SIGUSR2, thaw)
db = sqlite3.connect(db_path)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, note BLOB)")
rng = random.Random(1)
while True:
    if frozen:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        count = db.execute("SELECT count(*) FROM orders").fetchone()[0]
        with open(state_file + ".tmp", "w") as f:
            f.write(f"frozen {count}\n")
        os.replace(state_file + ".tmp", state_file)
        while frozen:
            time.sleep(0.05)
        with open(state_file, "w") as f:
            f.write("running\n")
    with db:
        for _ in range(200):
            db.execute("INSERT INTO orders (customer, amount, note) VALUES (?, ?, ?)",
                       (f"customer-{rng.randrange(1000)}", rng.random() * 100, rng.randbytes(rng.randrange(50, 2000))))
    time.sleep(0.01)
