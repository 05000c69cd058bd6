"""The navigator's HTML written in Python (issues/navigator_rows.py) is the markup its template loops wrote."""

from __future__ import annotations

from django.template import Context, Template

from issues.navigator_rows import options_html

# The filter form's loop before options_html replaced it (templates/issues/navigator.html, project list).
LOOP = Template(
    "{% for value, label in choices %}"
    '<option value="{{ value }}"{% if value in selected %} selected{% endif %}>{{ label }}</option>'
    "{% endfor %}"
)


def test_options_are_the_markup_of_the_template_loop():
    choices = [
        ("DEMO", "DEMO · Demo project"),
        ("A&B", "Quotes \" and ' <b>bold</b>"),
        ("OPS", "OPS · Operations"),
        ("", "Empty value"),
    ]
    for selected in ([], ["OPS"], ["A&B", "DEMO", "missing"]):
        expected = LOOP.render(Context({"choices": choices, "selected": selected}))
        assert options_html(choices, selected) == expected


def test_numeric_values_are_written_as_text():
    assert options_html([(7, "Members of DEMO")]) == '<option value="7">Members of DEMO</option>'
