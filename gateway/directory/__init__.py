"""People and cases: the agency's directory (gateway.directory).

`merge` (two people found to be one) and `reassign` (cases to another member of staff) hold the
rules the staff pages call; the API, import and upserts live beside them.
"""
