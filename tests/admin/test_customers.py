"""The customer archive in the admin: the list (search, filters, sort, pages, counts, scope),
the detail page (groups, masking, reveal), edits applied or proposed, refusals that change
nothing, the ledger with the record as of a date, and the shop's tickets."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from domain.masking import mask_bank_account, mask_phone
from domain.models import Customer, DeliveryRoute, LedgerEntry, PersonalDataReveal, Region, Ticket
from tests.admin.conftest import Demo, SignIn
from tests.admin.customers_support import (
    customer,
    form_values,
    ledger_count,
    listed_codes,
    manager_id,
    shop_of,
    total_of,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HTMX = {"HX-Request": "true", "HX-Target": "results"}


def _all(demo: Demo) -> list[Customer]:
    with Session(demo.engine) as s:
        return list(s.scalars(select(Customer).order_by(Customer.customer_code)))


def _post(client: TestClient, code: str, token: str, **fields: object) -> str:
    res = client.post(
        f"/admin/customers/{code}", data={k: str(v) for k, v in fields.items()},
        headers={"X-CSRF-Token": token, "HX-Request": "true", "HX-Target": "detail"},
    )  # fmt: skip
    assert res.status_code == 200, res.text
    return res.text


def test_list_search_filters_sort_pages_and_counts(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    sign_in(admin_demo.user("market_dept"))
    shops = _all(admin_demo)
    codes = [c.customer_code for c in shops]
    # the whole city for a city department: a count and the first page of 50, by code
    page = browser_client.get("/admin/customers")
    assert page.status_code == 200 and "<html" in page.text
    assert total_of(page.text) == len(shops)
    assert listed_codes(page.text) == codes[:50]
    # the next page continues the order
    second = browser_client.get("/admin/customers?page=2", headers=HTMX)
    assert listed_codes(second.text) == codes[50:100]
    # an htmx request gets only the results block
    assert "<html" not in second.text and second.text.lstrip().startswith('<section id="results"')
    # sorted by code descending
    desc = browser_client.get("/admin/customers?sort=-code", headers=HTMX)
    assert listed_codes(desc.text) == codes[::-1][:50]
    # a search over code, name, licence and address (a part of a shop name)
    needle = shops[7].shop_name[-3:]
    found = [c.customer_code for c in shops
             if any(needle in (v or "") for v in (c.customer_code, c.shop_name, c.licence_no,
                                                   c.address)) or c.phone == needle]  # fmt: skip
    res = browser_client.get("/admin/customers", params={"q": needle}, headers=HTMX)
    assert total_of(res.text) == len(found) >= 1
    assert listed_codes(res.text) == found[:50]
    # two filters and incomplete-only
    expected = [c.customer_code for c in shops
                if c.status == "active" and c.business_format == "convenience"]  # fmt: skip
    res = browser_client.get(
        "/admin/customers", params={"status": "active", "business_format": "convenience"},
        headers=HTMX,
    )  # fmt: skip
    assert total_of(res.text) == len(expected) > 0
    assert listed_codes(res.text) == expected[:50]
    # county, manager and route filters match the database
    with Session(admin_demo.engine) as s:
        region = s.scalars(select(Region).order_by(Region.code)).first()
        route = s.scalars(select(DeliveryRoute).order_by(DeliveryRoute.code)).first()
        assert region is not None and route is not None
        in_region = s.scalar(
            select(func.count()).select_from(Customer).where(Customer.admin_region_id == region.id)
        )
        on_route = s.scalar(
            select(func.count()).select_from(Customer).where(Customer.delivery_route_id == route.id)
        )
    res = browser_client.get("/admin/customers", params={"county": region.code}, headers=HTMX)
    assert total_of(res.text) == in_region > 0
    res = browser_client.get("/admin/customers", params={"route": route.code}, headers=HTMX)
    assert total_of(res.text) == on_route > 0
    manager = admin_demo.user("customer_manager", 1)
    mid = manager_id(admin_demo, manager)
    res = browser_client.get("/admin/customers", params={"manager": manager}, headers=HTMX)
    assert total_of(res.text) == sum(c.customer_manager_id == mid for c in shops) > 0
    # incomplete only: fewer shops, each one showing what is missing
    res = browser_client.get("/admin/customers", params={"incomplete": "1"}, headers=HTMX)
    assert 0 < total_of(res.text) < len(shops)
    assert res.text.count("（缺 ") == len(listed_codes(res.text))
    # the filters are kept on the full page (selected) and an unknown value is an error
    page = browser_client.get("/admin/customers?status=closed&sort=name")
    assert '<option value="closed" selected>' in page.text
    assert '<option value="name" selected>' in page.text
    bad = browser_client.get("/admin/customers?status=gone", headers=HTMX)
    assert "未知的客户状态“gone”" in bad.text and total_of(bad.text) == 0


def test_a_customer_manager_sees_only_own_shops(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me, other = admin_demo.user("customer_manager", 0), admin_demo.user("customer_manager", 1)
    mine = [c.customer_code for c in _all(admin_demo)
            if c.customer_manager_id == manager_id(admin_demo, me)]  # fmt: skip
    token = sign_in(me)
    # the list holds exactly my shops, even when asking for another manager's
    page = browser_client.get("/admin/customers")
    assert total_of(page.text) == len(mine) and set(listed_codes(page.text)) <= set(mine)
    res = browser_client.get("/admin/customers", params={"manager": other}, headers=HTMX)
    assert total_of(res.text) == 0
    # another manager's shop is not found, to read or to edit
    theirs = shop_of(admin_demo, other)
    assert browser_client.get(f"/admin/customers/{theirs.customer_code}").status_code == 404
    res = browser_client.post(
        f"/admin/customers/{theirs.customer_code}",
        data={"version": str(theirs.version), "contact_person": "越权"},
        headers={"X-CSRF-Token": token},
    )  # fmt: skip
    assert res.status_code == 404
    assert customer(admin_demo, theirs.customer_code).contact_person == theirs.contact_person
    # my own shop opens
    assert browser_client.get(f"/admin/customers/{mine[0]}").status_code == 200


def test_personal_fields_are_masked_for_a_role_without_the_grant(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    shop = shop_of(admin_demo, admin_demo.user("customer_manager", 2))
    assert shop.phone and shop.bank_account
    # the IT department may reveal nothing: the page holds only masked values
    token = sign_in(admin_demo.user("it_admin"))
    page = browser_client.get(f"/admin/customers/{shop.customer_code}").text
    assert shop.phone not in page and shop.bank_account not in page
    assert mask_phone(shop.phone) in page and mask_bank_account(shop.bank_account) in page
    assert "查看原文" not in page
    # and asking for the clear value anyway is refused, nothing logged
    before = admin_demo.scalar(select(func.count()).select_from(PersonalDataReveal))
    res = browser_client.post(
        f"/admin/customers/{shop.customer_code}/reveal",
        data={"field": "phone", "purpose": "核对"}, headers={"X-CSRF-Token": token},
    )  # fmt: skip
    assert "您的角色无权查看订货电话原文" in res.text and shop.phone not in res.text
    assert admin_demo.scalar(select(func.count()).select_from(PersonalDataReveal)) == before


def test_a_manager_reveals_the_phone_but_not_the_bank_account(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 2)
    shop = shop_of(admin_demo, me)
    token = sign_in(me)
    page = browser_client.get(f"/admin/customers/{shop.customer_code}").text
    # masked on the page, with a reveal button for the phone only
    assert shop.phone not in page and 'id="reveal-form-phone"' in page
    assert 'id="reveal-form-bank_account"' not in page
    before = admin_demo.scalar(select(func.count()).select_from(PersonalDataReveal))
    res = browser_client.post(
        f"/admin/customers/{shop.customer_code}/reveal",
        data={"field": "phone", "purpose": "电话回访"},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )  # fmt: skip
    assert f'data-field="phone">{shop.phone}</span>' in res.text
    assert admin_demo.scalar(select(func.count()).select_from(PersonalDataReveal)) == before + 1
    res = browser_client.post(
        f"/admin/customers/{shop.customer_code}/reveal",
        data={"field": "bank_account", "purpose": "核对"}, headers={"X-CSRF-Token": token},
    )  # fmt: skip
    assert shop.bank_account not in res.text and "无权查看银行帐号原文" in res.text


def test_the_detail_page_shows_the_six_groups_completeness_and_a_map(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 0)
    shop = shop_of(admin_demo, me)
    sign_in(me)
    page = browser_client.get(f"/admin/customers/{shop.customer_code}").text
    for name in ("识别信息", "基本信息", "业务模式", "经营水平", "守法信息", "服务信息"):
        assert f"<legend>{name}</legend>" in page
    assert "专卖许可证号" in page and "客户经理拜访批次" in page
    assert 'id="completeness"' in page and "档案完整度" in page
    assert 'data-map="' in page and "&#34;kind&#34;:&#34;points&#34;" in page
    # rights per field for a customer manager: contact person direct, phone by approval,
    # business scale computed
    assert '<tr id="field-contact_person"' in page
    row = page.split('<tr id="field-contact_person"')[1].split("</tr>")[0]
    assert "可直接修改" in row
    assert "需审批" in page.split('<tr id="field-phone"')[1].split("</tr>")[0]
    assert "只读" in page.split('<tr id="field-business_scale"')[1].split("</tr>")[0]


def test_an_edit_within_rights_is_applied_with_its_ledger_entry(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 3)
    shop = shop_of(admin_demo, me)
    token = sign_in(me)
    entries = ledger_count(admin_demo, shop.id)
    # when the manager changes the contact person (own field)
    html = _post(browser_client, shop.customer_code, token, version=shop.version,
                 contact_person="王晓梅")  # fmt: skip
    # then it is applied at once, the version moves on and the ledger has the change
    assert "已直接修改：联系人" in html
    after = customer(admin_demo, shop.customer_code)
    assert (after.contact_person, after.version) == ("王晓梅", shop.version + 1)
    assert ledger_count(admin_demo, shop.id) == entries + 1
    with Session(admin_demo.engine) as s:
        entry = s.scalars(
            select(LedgerEntry).where(LedgerEntry.customer_id == shop.id)
            .order_by(LedgerEntry.id.desc())
        ).first()  # fmt: skip
    assert entry is not None
    assert (entry.field_key, entry.old_value, entry.new_value, entry.source) == (
        "contact_person", shop.contact_person, "王晓梅", "edit",
    )  # fmt: skip


def test_a_change_outside_rights_becomes_a_ticket(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 4)
    shop = shop_of(admin_demo, me)
    token = sign_in(me)
    entries = ledger_count(admin_demo, shop.id)
    # when the manager asks for a new ordering phone (the market department's field)
    html = _post(browser_client, shop.customer_code, token, version=shop.version,
                 phone="13912345678", reason="店主换号")  # fmt: skip
    # then a phone-change ticket holds it and the record is unchanged
    with Session(admin_demo.engine) as s:
        ticket = s.scalars(
            select(Ticket).where(Ticket.customer_id == shop.id).order_by(Ticket.id.desc())
        ).first()
    assert ticket is not None and ticket.type == "phone_change"
    assert (ticket.base_version, ticket.reason) == (shop.version, "店主换号")
    assert f"已提交变更工单 #{ticket.id}" in html
    after = customer(admin_demo, shop.customer_code)
    assert (after.phone, after.version) == (shop.phone, shop.version)
    assert ledger_count(admin_demo, shop.id) == entries
    # and the shop's tickets tab lists it
    tab = browser_client.get(
        f"/admin/customers/{shop.customer_code}?tab=tickets",
        headers={"HX-Request": "true", "HX-Target": "tab-body"},
    ).text
    assert tab.lstrip().startswith('<div id="tab-body">')
    assert f"#{ticket.id}" in tab and "订货电话变更" in tab


def test_an_invalid_value_is_shown_beside_its_field_and_nothing_changes(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 5)
    shop = shop_of(admin_demo, me)
    token = sign_in(me)
    entries, tickets = ledger_count(admin_demo), admin_demo.scalar(select(func.count(Ticket.id)))
    # when a valid change goes with an invalid area and an unknown enum value
    changes = {"contact_person": "不应保存", "business_area_m2": "很大", "display_form": "橱窗"}
    html = _post(browser_client, shop.customer_code, token, version=shop.version, **changes)
    # then the errors sit beside their fields, the typed values are kept
    row = html.split('<tr id="field-business_area_m2"')[1].split("</tr>")[0]
    assert 'class="field-error">营业面积须为数字</span>' in row and 'value="很大"' in row
    row = html.split('<tr id="field-display_form"')[1].split("</tr>")[0]
    assert "出样形式须为以下之一：柜台、货架、柜台+货架" in row
    assert 'id="edit-refused"' in html
    # and nothing changed: the record, its version, the ledger, the tickets
    after = customer(admin_demo, shop.customer_code)
    assert (after.contact_person, after.business_area_m2, after.version) == (
        shop.contact_person, shop.business_area_m2, shop.version,
    )  # fmt: skip
    assert ledger_count(admin_demo) == entries
    assert admin_demo.scalar(select(func.count(Ticket.id))) == tickets


def test_a_stale_version_is_refused_with_a_clear_message(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 6)
    shop = shop_of(admin_demo, me)
    token = sign_in(me)
    # given someone changed the record since the form was opened
    _post(browser_client, shop.customer_code, token, version=shop.version, contact_person="甲")
    entries = ledger_count(admin_demo, shop.id)
    # when the old form is submitted
    html = _post(browser_client, shop.customer_code, token, version=shop.version,
                 contact_person="乙")  # fmt: skip
    # then it is refused with the versions named, and the form shows the latest record
    assert 'id="stale"' in html
    assert (
        f"该客户档案已被他人修改（当前版本 {shop.version + 1}，您提交的是 {shop.version}）" in html
    )
    assert f'name="version" value="{shop.version + 1}"' in html
    after = customer(admin_demo, shop.customer_code)
    assert (after.contact_person, after.version) == ("甲", shop.version + 1)
    assert ledger_count(admin_demo, shop.id) == entries


def test_the_history_and_the_record_as_of_a_date(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("customer_manager", 7)
    shop = shop_of(admin_demo, me)
    token = sign_in(me)
    today = dt.datetime.now(SHANGHAI).date()
    _post(browser_client, shop.customer_code, token, version=shop.version,
          contact_person="历史测试")  # fmt: skip
    url = f"/admin/customers/{shop.customer_code}"
    # the ledger tab shows the change, old and new
    tab = browser_client.get(f"{url}?tab=history").text
    ledger = tab.split('id="ledger"')[1]
    assert "联系人" in ledger and "历史测试" in ledger and (shop.contact_person or "") in ledger
    assert "直接修改" in ledger

    def contact_as_of(day: dt.date) -> str:
        page = browser_client.get(url, params={"tab": "history", "at": day.isoformat()}).text
        as_of = page.split('id="as-of"')[1].split("</section>")[0]
        return as_of.split("<th>联系人</th><td>")[1].split("</td>")[0]

    # as of yesterday the record had the old contact person, as of today the new one
    assert contact_as_of(today - dt.timedelta(days=1)) == (shop.contact_person or "—")
    assert contact_as_of(today) == "历史测试"
    # a date that is not one is said so
    bad = browser_client.get(url, params={"tab": "history", "at": "2026-13-40"}).text
    assert "日期格式须为 YYYY-MM-DD" in bad


def test_the_whole_form_sent_back_unchanged_changes_nothing(
    browser_client: TestClient, sign_in: SignIn, admin_demo: Demo
) -> None:
    me = admin_demo.user("market_dept")
    shop = shop_of(admin_demo, admin_demo.user("customer_manager", 9))
    token = sign_in(me)
    page = browser_client.get(f"/admin/customers/{shop.customer_code}").text
    values = form_values(page, "customer-form")
    assert values["version"] == str(shop.version) and "csrf_token" in values
    assert {"phone", "location_lng", "location_lat", "admin_region", "customer_manager"} <= set(
        values
    )
    entries, tickets = ledger_count(admin_demo), admin_demo.scalar(select(func.count(Ticket.id)))
    # when every field goes back as the page had it (personal inputs blank)
    html = _post(browser_client, shop.customer_code, token, **values)
    # then nothing is changed or proposed
    assert "提交的内容与档案相同，没有修改" in html and "edit-refused" not in html
    assert customer(admin_demo, shop.customer_code).version == shop.version
    assert ledger_count(admin_demo) == entries
    assert admin_demo.scalar(select(func.count(Ticket.id))) == tickets
    # and with one field changed in the whole form, only that field changes
    values["mailing_address"] = "西安市新城区解放路1号"
    html = _post(browser_client, shop.customer_code, token, **values)
    assert "已直接修改：通信地址" in html or "已提交变更工单" in html
    assert ledger_count(admin_demo) + admin_demo.scalar(select(func.count(Ticket.id))) == (
        entries + tickets + 1
    )
