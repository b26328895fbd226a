"""People and cases as the agency's case-management system knows them: the directory.

The agency's system is the source of truth; the gateway keeps a working copy, written by upserts
keyed by the agency's own ids (a person's `external_id`, a case's `reference`), so a nightly sync
is safe to repeat and the same write twice writes nothing.

* `fields`, `person_fields`, `case_fields` — validating what a caller sends, field by field
  (`FieldErrors`: field -> message), and resolving the names a case gives (client, staff email).
* `contacts` — contact points: normalise by kind, seal and blind-index, find, add, retire, change.
* `people`   — `upsert_person`, `retire_person`: validate all, diff against what is stored, write
  the changes and one case-record line per affected case naming the fields (never the values).
* `cases`    — `upsert_case`: client, assigned staff, status, program, office, tags, level;
  a reassignment is a transfer on the case record.
* `queries`  — finding cases: by reference, and the filtered list (officer, status, tag, program).
* `visibility` — the boundary: an offender-facing service never returns or counts a victim.
* `merge`    — two people found to be one: everything of the duplicate moves to the survivor.
* `reassign` — cases (one, or an officer's whole caseload) to another member of staff.
* `importer` — `import_table`, for `gateway import people|cases FILE` (`command`) and the admin
  upload: CSV or XLSX (`sheets`, `columns`), every row checked before anything is written, then bulk writes.

Every function takes the caller's session and writes in the caller's transaction; the caller
commits. The API (`gateway.api.directory`), the staff pages and the import all go through these.
"""
