"""The officer's day in a conversation: read state per member of staff, the thread's pages and the
plain lines it shows (keywords, failures), and scheduled messages (list, cancel, edit)."""
