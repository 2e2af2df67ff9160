"""A messy export, as a force's spreadsheet might give it, with its expected outcome.

Written by hand: every bad cell below is listed in EXPECTED_FAILURES with the line
it sits on, so the tests compare against values worked out here, not recomputed.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

CASES_CSV = """\
 Case_ID , Assessment_Date ,RELATIONSHIP,Victim_Sex,victim_age,Suspect_Sex,suspect_age,suspect_prior_stalking,suspect_prior_violence,suspect_prior_domestic_abuse,suspect_substance_misuse,protective_order_in_force,victim_fear,victim_ethnicity,suspect_ethnicity,force_code,Notes
 C001 ,2024-03-01, EX_PARTNER ,Female,34.0,MALE,41,2,1.0,Yes,0,no,Very_Afraid,White,white, WM ,first
C002,2024-03-32,family,female,,male,,0,0,,,,,,,,bad date
C003,2024-04-01,Stranger,male,150,male,30,0,0,TRUE,FALSE,false,afraid,asian,black,,age out of range
C004,2024-04-02,cousin,female,20,male,22,,,,,,,,,,unknown category
C003,2024-04-03,neighbour,female,25,male,26,0,0,,,,,,,,duplicate id
C005,2024-04-04,colleague,other,44,female,50,1,0,1,yes,0,not_afraid,mixed,other,,its events fail
C006,2024-04-05,online_only,unknown,,unknown,,,,,,,unknown,unknown,unknown,,fine
"""

EVENTS_CSV = """\
Case_ID, Event_Time ,Behaviour,Channel,Recorded_At,Event_ID
C001,2024-03-31 01:30, Following ,PHONE,,E1
C001,2024-10-27 01:30,contacting,text_message,2024-10-27T09:00:00+01:00,E2
C001,2024-02-20,THREAT,in_person,,E3
C006,2024-07-01 23:30,watching,,,E4
C005,2024-06-01T10:00:00Z,shouting,,,E5
C005,2024-06-02T10:00:00+01:00,threat,,,E5
C999,2024-06-03,threat,,,E6
C005,2024-06-31 10:00,following,,,E7
"""

#: (table, line, case_id, column, value, rule), ordered by table then line.
EXPECTED_FAILURES = [
    ("cases", 3, "C002", "assessment_date", "2024-03-32", "parseable_date"),
    ("cases", 4, "C003", "case_id", "C003", "unique"),
    ("cases", 4, "C003", "victim_age", "150", "in_range"),
    ("cases", 5, "C004", "relationship", "cousin", "allowed_value"),
    ("cases", 6, "C003", "case_id", "C003", "unique"),
    ("events", 6, "C005", "behaviour", "shouting", "allowed_value"),
    ("events", 6, "C005", "event_id", "E5", "unique"),
    ("events", 7, "C005", "event_id", "E5", "unique"),
    ("events", 8, "C999", "case_id", "C999", "case_id_names_a_case"),
    ("events", 9, "C005", "event_time", "2024-06-31 10:00", "parseable_timestamp"),
]
QUARANTINED = ["C002", "C003", "C004", "C003", "C005"]
VALID_CASES = ["C001", "C006"]
VALID_EVENT_LINES = [2, 3, 4, 5]


def write_messy(folder: Path) -> dict[str, Path]:
    """Write the export as CSV, gzipped CSV and (all-string) Parquet into ``folder``."""
    paths: dict[str, Path] = {}
    for name, text in (("cases", CASES_CSV), ("events", EVENTS_CSV)):
        csv_path = folder / f"{name}.csv"
        csv_path.write_text(text, encoding="utf-8")
        gz_path = folder / f"{name}.csv.gz"
        gz_path.write_bytes(gzip.compress(text.encode("utf-8")))
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        pq_path = folder / f"{name}.parquet"
        frame.to_parquet(pq_path, index=False)
        paths[f"{name}_csv"], paths[f"{name}_gz"], paths[f"{name}_parquet"] = csv_path, gz_path, pq_path
    return paths
