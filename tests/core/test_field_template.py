"""The shared field template: help text the widget points at, radio groups labelled."""

from __future__ import annotations

import re

from django import forms
from django.template.loader import render_to_string


class _Form(forms.Form):
    name = forms.CharField(help_text="Unique in the workspace.")
    kind = forms.ChoiceField(
        choices=[("a", "A"), ("b", "B")], widget=forms.RadioSelect, label="Runs"
    )


def test_the_widgets_aria_describedby_names_the_help_texts_real_id():
    html = render_to_string("core/_field.html", {"field": _Form()["name"]})
    described = re.search(r'aria-describedby="([^"]+)"', html)[1]
    assert f'id="{described}"' in html
    assert "Unique in the workspace." in html


def test_a_radio_group_is_a_fieldset_with_its_label_as_legend():
    html = render_to_string("core/_field.html", {"field": _Form()["kind"]})
    assert "<legend>Runs" in html
    assert 'for=""' not in html
