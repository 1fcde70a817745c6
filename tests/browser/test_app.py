"""The web app in a real browser, one role at a time and together, against a real platform."""
import re

from playwright.sync_api import expect

LIVE = 15_000  # ms a live change may take to show (an event hop plus the stream)


def order_from_the_menu(page, kimbap, card="tok_visa"):
    """Opens owner1's store, puts tuna kimbap in the order, fills the address and card, orders."""
    page.get_by_role("link", name=re.compile("김밥천국")).first.click()
    page.get_by_label(re.compile("참치김밥 수량")).fill(str(kimbap))
    page.get_by_label("배달 주소 Address").fill("서울 강남구 테헤란로 1")
    page.get_by_label("위도 Latitude").fill("37.501")
    page.get_by_label("경도 Longitude").fill("127.036")
    page.get_by_label("카드 Card token").fill(card)
    expect(page.locator("form strong[aria-live]")).to_have_text(f"₩{4500 * kimbap:,}")
    page.get_by_role("button", name="주문하기 Order").click()


def test_customer_orders_and_follows_it_live_to_completion(app, platform):
    customer = app("customer1")
    page = customer.page
    order_from_the_menu(page, kimbap=2)
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "Placed", timeout=LIVE)
    expect(page.get_by_text("실시간 · live")).to_be_visible()
    customer.shot("customer-order")

    # The store and the rider act through the API; the customer's page follows without a reload.
    order_id = page.url.rsplit("/", 1)[1]
    platform.cook(order_id, platform.store_of("owner1")["storeId"], minutes=15)
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "Cooked", timeout=LIVE)
    expect(page.get_by_text(re.compile("조리 완료 예정 Ready at"))).to_be_visible()
    rider, _ = platform.token("rider1")
    delivery = platform.waiting_delivery(order_id, rider)
    for step in ["pick", "complete"]:
        status, answer = platform.call("POST", f"/deliveries/{delivery}/{step}", None, rider)
        assert status == 200, answer
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "Delivered", timeout=LIVE)
    page.get_by_role("button", name="수령 확인 Confirm receipt").click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "Completed", timeout=LIVE)

    # A review with a rating, then deleted.
    page.get_by_label("별점 Rating").select_option("4")
    page.get_by_label("리뷰 Review").fill("맛있어요")
    page.get_by_role("button", name="등록 Post").click()
    expect(page.get_by_role("status")).to_contain_text("리뷰가 등록되었습니다")
    # The review shows on the store's page, with its stars.
    order_page = page.url
    page.get_by_role("link", name="가게 Stores").click()
    page.get_by_role("link", name=re.compile("김밥천국")).first.click()
    expect(page.get_by_label("리뷰 Reviews")).to_contain_text("맛있어요")
    page.goto(order_page)
    page.get_by_role("button", name="리뷰 삭제 Delete review").click()
    expect(page.get_by_role("button", name="등록 Post")).to_be_visible()
    expect(page.get_by_label("결제 Payment")).to_contain_text("₩9,000")

    page.get_by_role("link", name="결제 Payments").click()
    expect(page.get_by_role("link", name=order_id[:8])).to_be_visible()

    page.get_by_role("link", name="알림 Notifications").click()
    expect(page.locator("main .card").first).to_be_visible(timeout=LIVE)
    page.get_by_role("link", name="내 정보 Grade & coupons").click()
    expect(page.get_by_text("완료한 주문 Completed orders: 1")).to_be_visible()


def signed_in_live(app, username):
    """`username` signed in, on a page whose live stream is open: (session, page)."""
    session = app(username)
    expect(session.page.get_by_text("실시간 · live")).to_be_visible(timeout=LIVE)
    return session, session.page


def test_a_new_order_reaches_the_owner_live_and_is_followed_to_completed(app, platform):
    owner, page = signed_in_live(app, "owner1")
    order_id, _ = platform.place_order()
    row = page.locator(f"#order-{order_id}")
    expect(row).to_have_attribute("data-status", "Placed", timeout=LIVE)
    expect(page.get_by_role("alert")).to_contain_text("새 주문 New order")
    owner.shot("owner-orders")
    row.get_by_label("조리 시간 Cook minutes").select_option("20")
    row.get_by_role("button", name="수락 Accept").click()
    expect(row).to_have_attribute("data-status", "Accepted", timeout=LIVE)
    page.locator(f"#order-{order_id}").get_by_role("button", name="조리 시작 Start cooking").click()
    expect(page.locator(f"#order-{order_id}")).to_have_attribute("data-status", "Cooking", timeout=LIVE)
    page.locator(f"#order-{order_id}").get_by_role("button", name="조리 완료 Cooked").click()
    expect(page.locator(f"#order-{order_id}")).to_have_attribute("data-status", "Cooked", timeout=LIVE)

    # After the kitchen, the list follows the order to its end without a reload.
    rider, _ = platform.token("rider1")
    delivery = platform.waiting_delivery(order_id, rider)
    assert platform.call("POST", f"/deliveries/{delivery}/pick", None, rider)[0] == 200
    expect(page.locator(f"#order-{order_id}")).to_have_attribute("data-status", "Picked", timeout=LIVE)
    assert platform.call("POST", f"/deliveries/{delivery}/complete", None, rider)[0] == 200
    customer, _ = platform.token("customer1")
    for _ in range(100):
        status, _ = platform.call("POST", f"/orders/{order_id}/confirm-receipt", None, customer)
        if status == 200:
            break
        page.wait_for_timeout(200)
    expect(page.locator(f"#order-{order_id}")).to_have_attribute("data-status", "Completed", timeout=LIVE)
    owner.shot("owner-completed")


def test_an_owner_rejects_with_a_chosen_reason_and_manages_the_menu(app, platform):
    owner_token, _ = platform.token("owner1")
    owner = app("owner1")
    page = owner.page
    order_id, store = platform.place_order()
    row = page.locator(f"#order-{order_id}")
    expect(row).to_be_visible(timeout=LIVE)
    row.get_by_label("거절 사유 Reason").select_option(index=1)
    row.get_by_role("button", name="거절 Reject").click()
    expect(row).to_have_attribute("data-status", "Rejected", timeout=LIVE)

    page.get_by_role("link", name="메뉴 Menu").click()
    first = store["foods"][0]["name"]
    page.get_by_label(f"{first} 가격 Price").fill("5500")
    page.locator("#sold-out-1").check()
    page.get_by_label("새 음식 New food").fill("라면")
    page.get_by_label("가격 Price", exact=True).fill("4000")
    page.get_by_role("button", name="추가 Add").click()
    page.get_by_role("button", name="메뉴 저장 Save menu").click()
    expect(page.get_by_role("status")).to_contain_text("저장했습니다")
    owner.shot("owner-menu")
    _, detail = platform.call("GET", f"/stores/{store['storeId']}", token=owner_token)
    foods = {f["name"]: f for f in detail["foods"]}
    assert foods[first]["price"] == 5500
    assert foods[store["foods"][1]["name"]]["soldOut"] is True
    assert foods["라면"]["price"] == 4000
    page.get_by_role("button", name="영업 시작/일시 중지 Open or pause").click()
    expect(page.get_by_text("준비 중 · Paused")).to_be_visible()

    # The customer sees the sold-out food refused and the paused store closed to orders.
    customer = app("customer1")
    customer.page.get_by_role("link", name=detail["name"]).first.click()
    expect(customer.page.get_by_text("품절 Sold out")).to_be_visible()
    expect(customer.page.get_by_role("button", name="주문하기 Order")).to_be_disabled()

    page.get_by_role("link", name="음식별 주문 수 Food counts").click()
    expect(page.locator("table")).to_be_visible()


def test_a_rider_sees_a_delivery_open_nearby_live_picks_and_completes_it(app, platform):
    rider, page = signed_in_live(app, "rider1")
    order_id, store = platform.place_order()
    platform.cook(order_id, store["storeId"])
    card = page.locator("ul[aria-label='배달 대기 Waiting deliveries'] li.card").first
    expect(card).to_contain_text("가게까지 To the store", timeout=LIVE)
    expect(card).to_contain_text("배달 경로 Route")
    rider.shot("rider")
    card.get_by_role("button", name="배달 잡기 Pick").click()
    mine = page.locator("ul[aria-label='내 배달 My deliveries'] li.card").first
    expect(mine).to_have_attribute("data-status", re.compile("Pick"))
    mine.get_by_role("button", name="배달 완료 Delivered").click()
    expect(page.get_by_text(re.compile("배달 완료 Delivered: 1"))).to_be_visible(timeout=LIVE)


def test_a_refusal_shows_the_problems_detail_and_code(app, platform):
    customer = app("customer1")
    page = customer.page
    platform.place_order()  # the menu replica knows the store
    order_from_the_menu(page, kimbap=1, card="tok_decline")
    expect(page.get_by_role("status")).to_contain_text("(payment-declined)")


def test_data_is_shown_as_text_never_as_markup(app, platform):
    owner_token, _ = platform.token("owner1")
    store = platform.store_of("owner1")
    attack = '<img src=x onerror="window.__owned=1">'
    foods = [{"foodId": f["foodId"], "name": f["name"], "price": f["price"], "soldOut": f["soldOut"]} for f in store["foods"]]
    foods[0]["name"] = attack
    status, answer = platform.call("PUT", f"/stores/{store['storeId']}/menu", {"foods": foods}, owner_token)
    assert status == 200, answer
    customer = app("customer1")
    page = customer.page
    page.get_by_role("link", name=store["name"]).first.click()
    expect(page.get_by_text(attack, exact=True)).to_be_visible()
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__owned") is None


def test_every_input_is_labelled_and_a_phone_width_does_not_scroll_sideways(app, platform):
    for user in ["customer1", "owner1", "rider1", "admin"]:
        tab = app(user, width=375)
        page = tab.page
        page.wait_for_timeout(1500)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select')]
            .filter((input) => !input.labels || input.labels.length === 0).map((input) => input.outerHTML)""")
        assert unlabelled == [], unlabelled
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        tab.shot(f"{user}-375px")
        # From the skip link, the keyboard walks through links and controls, never losing focus.
        page.locator("a.skip").focus()
        reached = []
        for _ in range(30):
            page.keyboard.press("Tab")
            tag = page.evaluate("document.activeElement.tagName")
            if tag == "BODY":  # past the last control, the focus leaves the page
                break
            reached.append(tag)
        assert "A" in reached and "BUTTON" in reached, reached
        if user != "customer1":  # the owner's and rider's screens have form controls
            assert {"INPUT", "SELECT"} & set(reached), reached


def test_an_admin_registers_a_store_reads_stuck_sagas_and_payments_and_disables_an_account(app, platform):
    platform.place_order()
    _, owner2 = platform.token("owner2")
    admin = app("admin")
    page = admin.page
    page.get_by_label("가게 이름 Store name").fill("새 가게")
    page.get_by_label("점주 ID Owner id").fill(owner2)
    page.get_by_label("위도 Latitude").fill("37.55")
    page.get_by_label("경도 Longitude").fill("126.99")
    page.get_by_role("button", name="등록 Register").click()
    expect(page.get_by_role("cell", name="새 가게")).to_be_visible()
    page.get_by_role("link", name="지연 주문 Stuck orders").click()
    expect(page.locator("main section.card").first).to_be_visible()
    page.get_by_role("link", name="결제 Payments").click()
    expect(page.locator("tbody tr").first).to_be_visible()
    admin.shot("admin")
    page.get_by_role("link", name="계정 Accounts").click()
    page.get_by_label("아이디 Username").fill("customer3")
    page.get_by_role("button", name="사용 중지 Disable").click()
    expect(page.get_by_role("status")).to_contain_text("사용 중지했습니다")
    status, problem = platform.call("POST", "/auth/login", {"username": "customer3", "password": "demo1234"})
    assert status == 401, problem
