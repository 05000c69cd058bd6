"""ADF <-> plain text: what v3 clients send and get for descriptions and comment bodies."""

from __future__ import annotations

import pytest

from api.adf import adf_to_text, is_adf, text_to_adf


@pytest.mark.parametrize(
    "text",
    [
        "One paragraph.",
        "First paragraph.\n\nSecond paragraph.",
        "Line one\nline two (a hard break)",
        "Steps:\n\n- open the page\n- click save",
        "1. first\n2. second\n3. third",
        "Before\n\n```python\nprint('hi')\n\nx = 1\n```\n\nAfter",
        "```\nplain code\n```",
    ],
)
def test_text_round_trips_through_adf(text):
    doc = text_to_adf(text)
    assert is_adf(doc) and doc["version"] == 1
    assert adf_to_text(doc) == text


def test_paragraphs_and_hard_breaks_are_adf_nodes():
    doc = text_to_adf("a\nb\n\nc")
    assert doc["content"] == [
        {"type": "paragraph", "content": [{"type": "text", "text": "a"}, {"type": "hardBreak"},
                                          {"type": "text", "text": "b"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "c"}]},
    ]  # fmt: skip


def test_lists_and_code_blocks_are_adf_nodes():
    doc = text_to_adf("- x\n- y\n\n```sql\nselect 1\n```")
    bullet, code = doc["content"]
    assert bullet["type"] == "bulletList" and len(bullet["content"]) == 2
    assert bullet["content"][0]["content"][0]["content"] == [{"type": "text", "text": "x"}]
    assert code == {
        "type": "codeBlock",
        "attrs": {"language": "sql"},
        "content": [{"type": "text", "text": "select 1"}],
    }


def test_mentions_emoji_and_marks_become_their_text():
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Ask "},
                    {"type": "mention", "attrs": {"id": "557058:abc", "text": "@Alice Adams"}},
                    {"type": "text", "text": " about "},
                    {"type": "text", "text": "this", "marks": [{"type": "strong"}]},
                    {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
                ],
            },
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Title"}]},
            {"type": "rule"},
        ],
    }
    assert adf_to_text(doc) == "Ask @Alice Adams about this😄\n\n## Title\n\n---"


def test_empty_and_missing_bodies():
    assert text_to_adf(None) is None
    assert text_to_adf("") == {"type": "doc", "version": 1, "content": []}
    assert adf_to_text(None) == ""
    assert adf_to_text({"type": "doc", "version": 1, "content": []}) == ""
    # Garbage never raises: unknown shapes read as no text.
    assert adf_to_text({"type": "doc", "content": "nope"}) == ""
    assert adf_to_text({"type": "doc", "content": [{"type": "paragraph", "content": [1, None]}]}) == ""
