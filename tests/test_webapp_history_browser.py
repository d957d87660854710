"""A document's history in a real browser (Debian's headless Chromium, with the pages, web
instances and team of tests/test_webapp_browser.py): a collaborator names a version, types,
compares and restores while the owner types on the other instance; both editors end on the
restored text plus what was typed after it, and a viewer sees the versions but cannot restore.
Screenshots of each step go to tests/artifacts/webapp/."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.test_browser import MISSING, REQUIRED, WHY
from tests.test_webapp_browser import (  # noqa: F401 - fixtures
    API,
    open_workspace,
    pages,
    trio,
    web_pair,
)

pytestmark = pytest.mark.skipif(bool(MISSING) and not REQUIRED, reason=WHY)


def versions(instance, account, team) -> list[dict]:
    response = requests.get(
        f"{instance.url}{API}/projects/{team.pid}/workspaces/{team.wid}/documents/{team.did}"
        "/versions",
        headers=account.headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_name_compare_and_restore_a_version_while_another_person_types(
    web_pair,  # noqa: F811
    pages,  # noqa: F811
    trio,  # noqa: F811
):
    bob = open_workspace(pages(web_pair[0], "bob"), trio.bob, trio.path)
    alice = open_workspace(pages(web_pair[1], "alice"), trio.alice, trio.path)
    bob.type("def lex(text):\n    return text.split()")
    alice.until(lambda: alice.editor_text() == "def lex(text):\n    return text.split()", 5)

    bob.find("[data-testid=history-toggle]").click()
    bob.find_text("[data-testid=versions]", "No versions yet")
    bob.fill("[data-testid=name-version]", name="splits on spaces")
    bob.submit("[data-testid=name-version]")
    bob.find_text("[data-testid=versions]", "“splits on spaces”")
    bob.find_text("[data-testid=versions]", f"by {trio.bob.username}")
    # The other page learns of the version live (doc:version), its panel open.
    alice.find("[data-testid=history-toggle]").click()
    alice.find_text("[data-testid=versions]", "“splits on spaces”")
    alice.find_text("[data-testid=activity]", "saved the version “splits on spaces” of main.py")

    alice.type("\n# by alice, to be undone")
    bob.until(lambda: "to be undone" in (bob.editor_text() or ""), 5)
    bob.find("[data-testid=compare]").click()
    # The version's last line had no newline yet: it is changed too (+2 -1).
    bob.find_text("[data-testid=diff]", "+2 \u22121 lines")
    inserted = bob.driver.find_elements(By.CSS_SELECTOR, "[data-testid=diff] .insert")
    assert [line.get_attribute("textContent") for line in inserted] == [
        "+    return text.split()\n",
        "+    # by alice, to be undone  (no newline at the end)\n",  # the editor indented it
    ]
    bob.driver.execute_script("arguments[0].scrollIntoView()", inserted[-1])
    bob.shot("compared")

    bob.find("[data-testid=restore]").click()
    bob.find("[data-testid=confirm-restore]").click()
    expected = "def lex(text):\n    return text.split()"
    bob.until(lambda: bob.editor_text() == expected, 10, "bob's editor was not restored")
    alice.until(lambda: alice.editor_text() == expected, 10, "alice's editor was not restored")
    bob.find_text("[data-testid=versions]", "Restored “splits on spaces”")
    alice.find_text("[data-testid=versions]", "Restored “splits on spaces”")
    bob.shot("restored")
    alice.shot("restored")

    # Both keep typing after the restore and converge.
    alice.type("\nprint(lex('a b'))")
    typed = expected + "\n    print(lex('a b'))"  # the editor indents the new line
    alice.until(lambda: alice.editor_text() == typed, 5)
    bob.until(lambda: bob.editor_text() == typed, 5)
    bob.find_text("[data-testid=activity]", "restored “splits on spaces” of main.py")
    listed = versions(web_pair[0], trio.alice, trio)
    assert listed[-1]["name"] == "splits on spaces"
    assert listed[0]["restored_from"] == listed[-1]["id"]
    assert any(v["name"] is None and not v["restored_from"] for v in listed)  # what it replaced


def test_a_viewer_reads_history_but_cannot_name_or_restore(
    web_pair,  # noqa: F811
    pages,  # noqa: F811
    trio,  # noqa: F811
):
    alice = open_workspace(pages(web_pair[0], "alice"), trio.alice, trio.path)
    alice.type("kept")
    alice.find("[data-testid=history-toggle]").click()
    alice.fill("[data-testid=name-version]", name="first")
    alice.submit("[data-testid=name-version]")
    alice.find_text("[data-testid=versions]", "“first”")

    carol = open_workspace(pages(web_pair[1], "carol"), trio.carol, trio.path)
    carol.find("[data-testid=history-toggle]").click()
    carol.find_text("[data-testid=versions]", "“first”")
    assert not carol.driver.find_element(
        By.CSS_SELECTOR, "[data-testid=name-version]"
    ).is_displayed()
    assert carol.driver.find_elements(By.CSS_SELECTOR, "[data-testid=restore]") == []
    carol.find("[data-testid=compare]").click()
    carol.find_text("[data-testid=diff]", "No difference")
    carol.shot("viewer-history")
