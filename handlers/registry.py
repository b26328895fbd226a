"""The default handler chain, in order. Read this file to know what happens to a message.

| # | handler | does | stops when |
| - | ------- | ---- | ---------- |
| 1 | identify | sender → person → open cases in this service | never |
| 2 | opt_out | STOP / START / HELP and the other carrier keywords (English, Spanish) | it was a keyword |
| 3 | answers | a one-word reply resolves the person's newest open question | never (the officer sees it) |
| 3b | victim_ack | an answer to a victim notice's question acknowledges the notice | never |
| 4 | case_handler | known person → their conversation, unread, live push, alert, out-of-office | the person is known |
| 5 | unclaimed | unknown sender → the service's unclaimed inbox, one auto-reply a day | always |

Every handler's decision is kept on the message (`InboundMessage.decisions`) and in the case
record of each open case it was matched to. To change the route, change this list.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.answers import Answers
from handlers.base import Handler
from handlers.case_handler import CaseHandler
from handlers.identify import Identify
from handlers.opt_out import OptOut
from handlers.unclaimed import Unclaimed
from handlers.victim_ack import VictimAck


def default_chain() -> Sequence[Handler]:
    """A fresh instance of the default chain (handlers hold no state, but tests swap them)."""
    return (Identify(), OptOut(), Answers(), VictimAck(), CaseHandler(), Unclaimed())
