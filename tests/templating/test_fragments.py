"""SMS encoding and fragment counting, tested at every boundary the carriers bill on."""

from __future__ import annotations

import pytest

from gateway.templating.fragments import GSM_7, UCS_2, is_gsm7, sms_length

CYRILLIC = "ж"  # outside GSM-7, inside the Basic Multilingual Plane: one UTF-16 unit
EMOJI = "\N{GRINNING FACE}"  # outside the BMP: a surrogate pair, two UTF-16 units


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "fragments"),
    [
        ("", GSM_7, 0, 0),
        ("a", GSM_7, 1, 1),
        ("a" * 160, GSM_7, 160, 1),
        ("a" * 161, GSM_7, 161, 2),
        ("a" * 306, GSM_7, 306, 2),
        ("a" * 307, GSM_7, 307, 3),
        ("a" * 459, GSM_7, 459, 3),
        ("a" * 460, GSM_7, 460, 4),
        (CYRILLIC * 70, UCS_2, 70, 1),
        (CYRILLIC * 71, UCS_2, 71, 2),
        (CYRILLIC * 134, UCS_2, 134, 2),
        (CYRILLIC * 135, UCS_2, 135, 3),
        (CYRILLIC * 201, UCS_2, 201, 3),
        (CYRILLIC * 202, UCS_2, 202, 4),
    ],
)
def test_single_and_concatenated_limits(text: str, encoding: str, characters: int, fragments: int) -> None:
    length = sms_length(text)
    assert (length.encoding, length.characters, length.fragments) == (encoding, characters, fragments)


@pytest.mark.parametrize("char", list("^{}\\[~]|€\f"))
def test_extension_characters_count_two_septets(char: str) -> None:
    length = sms_length(char)
    assert (length.encoding, length.characters, length.fragments) == (GSM_7, 2, 1)


def test_extension_character_at_single_message_boundary() -> None:
    assert sms_length("a" * 158 + "€").fragments == 1  # 160 septets
    assert sms_length("a" * 159 + "€").characters == 161
    assert sms_length("a" * 159 + "€").fragments == 2
    assert sms_length("{" * 80).fragments == 1
    assert sms_length("{" * 81).fragments == 2


def test_extension_character_is_never_split_across_parts() -> None:
    # 306 septets either way; only where the escape sequence falls differs.
    fits = "a" * 151 + "€" + "a" * 153  # parts of 153 + 153
    straddles = "a" * 152 + "€" + "a" * 152  # the € cannot take the last septet of part 1
    assert sms_length(fits).characters == sms_length(straddles).characters == 306
    assert sms_length(fits).fragments == 2
    assert sms_length(straddles).fragments == 3


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2() -> None:
    text = "a" * 159 + "á"  # á is not in GSM-7 (à is)
    length = sms_length(text)
    assert length.encoding == UCS_2
    assert length.characters == 160
    assert length.fragments == 3  # 160 UCS-2 units: more than 2 x 67


def test_gsm_basic_characters_count_one() -> None:
    text = "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡¿ÄÖÑÜ§äöñüà\n\r"
    assert is_gsm7(text)
    assert sms_length(text).characters == len(text)
    assert sms_length(text).encoding == GSM_7


def test_spanish_punctuation_is_gsm_but_most_accents_are_not() -> None:
    assert sms_length("¿Qué tal? ¡Buenos días!").encoding == UCS_2  # í
    assert sms_length("¿Qué? ¡Sí!").encoding == UCS_2  # í
    assert sms_length("¿Qué? ¡Ñandú!").encoding == UCS_2  # ú
    assert sms_length("¿Qué? ¡Señor!").encoding == GSM_7


def test_emoji_counts_two_ucs2_units() -> None:
    assert (sms_length(EMOJI).encoding, sms_length(EMOJI).characters) == (UCS_2, 2)
    assert sms_length(EMOJI * 35).fragments == 1  # 70 units
    assert sms_length(EMOJI * 35 + "a").fragments == 2  # 71 units


def test_surrogate_pair_is_never_split_across_parts() -> None:
    fits = "a" * 65 + EMOJI + "a" * 67  # parts of 67 + 67
    straddles = "a" * 66 + EMOJI + "a" * 66
    assert sms_length(fits).characters == sms_length(straddles).characters == 134
    assert sms_length(fits).fragments == 2
    assert sms_length(straddles).fragments == 3
