"""Carrier keywords (STOP, START, HELP and the others) in English and Spanish, and "one word".

The `opt_out` handler acts on them; `gateway.questions` refuses them as answer choices. Only a
message that is one word and nothing else is a keyword, compared without case, accents,
punctuation or surrounding space: "Stop.", " stop! ", "ALTO" and "Información" are keywords;
"can't stop by today", "STOP PLEASE" and "please cancel" are not (as Twilio and US carriers do).

| keywords | meaning |
| --- | --- |
| STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT | opt out (Twilio's default list) |
| ALTO PARAR DETENER CANCELAR BAJA DESUSCRIBIR | opt out, Spanish (ALTO is the CTIA/Twilio Spanish keyword) |
| START UNSTOP · COMENZAR INICIAR INICIO | opt back in (Twilio's START/UNSTOP; Spanish) |
| YES · SI | opt back in only when opted out (Twilio re-subscribes on YES); otherwise an ordinary reply |
| HELP INFO · AYUDA AUXILIO INFORMACION | help: reply with the service's contact text (AYUDA is CTIA's) |

"OPT-OUT" and "Sí" fold to OPTOUT and SI, so they count too.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    OPT_IN_IF_OPTED_OUT = "opt_in_if_opted_out"
    HELP = "help"


KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"], Keyword.OPT_OUT),
    **dict.fromkeys(["ALTO", "PARAR", "DETENER", "CANCELAR", "BAJA", "DESUSCRIBIR"], Keyword.OPT_OUT),
    **dict.fromkeys(["START", "UNSTOP", "COMENZAR", "INICIAR", "INICIO"], Keyword.OPT_IN),
    **dict.fromkeys(["YES", "SI"], Keyword.OPT_IN_IF_OPTED_OUT),
    **dict.fromkeys(["HELP", "INFO", "AYUDA", "AUXILIO", "INFORMACION"], Keyword.HELP),
}


def single_word(text: str) -> str | None:
    """The text as one upper-case word without accents or punctuation; None if it is not one word."""
    stripped = text.strip()
    if not stripped or any(ch.isspace() for ch in stripped):
        return None
    decomposed = unicodedata.normalize("NFKD", stripped)
    word = "".join(ch for ch in decomposed if unicodedata.category(ch)[0] in "LN")
    return word.upper() or None


def keyword_of(text: str) -> tuple[str, Keyword] | None:
    """The carrier keyword this message is, if it is exactly one."""
    word = single_word(text)
    if word is None or word not in KEYWORDS:
        return None
    return word, KEYWORDS[word]
