"""Letters: the postal channel (address rules, PDF rendering, print batches, returned mail).

A letter is a notification like any other; see `channel.py` for how one becomes ready to print
and `batch.py` for how it reaches the mail house.
"""
