// A store's reviews, newest first: on the customer's store page and the owner's reviews screen.
import { api } from "./api.js";
import { h, notice } from "./dom.js";
import { dateTime } from "./format.js";

export function reviews(storeId) {
  const report = notice();
  const list = h("ul", { class: "reviews" });
  const section = h("section", { class: "card", "aria-label": "리뷰 Reviews" }, h("h3", null, "리뷰 Reviews"), report.element, list);
  api("GET", `/stores/${storeId}/reviews?limit=50`).then((all) => {
    if (!all.length) list.append(h("li", { class: "muted" }, "아직 리뷰가 없습니다 · no reviews yet"));
    for (const review of all) {
      list.append(h("li", null,
        h("span", { class: "stars", "aria-label": `${review.rating}/5` }, "★".repeat(review.rating) + "☆".repeat(5 - review.rating)),
        " ", review.text, " ", h("small", { class: "muted" }, dateTime(review.createdAt))));
    }
  }, (error) => report.fail(error));
  return section;
}

/** The review written for `orderId`, if the store's newest reviews hold it. */
export async function reviewOf(storeId, orderId) {
  const all = await api("GET", `/stores/${storeId}/reviews?limit=200`);
  return all.find((review) => review.orderId === orderId) ?? null;
}
