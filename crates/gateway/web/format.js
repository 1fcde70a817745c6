// How numbers, money, times and statuses read: Korean first, with the English the seeds use.

const krw = new Intl.NumberFormat("ko-KR", { style: "currency", currency: "KRW" });
export const won = (amount) => krw.format(amount);

export const time = (ms) => (ms ? new Date(ms).toLocaleTimeString("ko-KR", { hour: "2-digit", minute: "2-digit" }) : "");
export const dateTime = (ms) => (ms ? new Date(ms).toLocaleString("ko-KR") : "");
export const km = (value) => `${value.toFixed(1)} km`;

const STATUS = {
  PaymentPending: "결제 중",
  PaymentFailed: "결제 실패",
  Placed: "주문 접수",
  Accepted: "주문 수락",
  Rejected: "주문 거절",
  Cooking: "조리 중",
  Cooked: "조리 완료",
  CancelRequested: "취소 요청",
  Canceled: "주문 취소",
  Picked: "배달 중",
  PickedUp: "배달 중",
  Delivered: "배달 완료",
  Completed: "수령 확인",
  Waiting: "배차 대기",
};
export const status = (name) => `${STATUS[name] ?? name} · ${name}`;

/** Great-circle distance between two positions, in km. */
export function distanceKm(a, b) {
  const rad = (deg) => (deg * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLng = rad(b.lng - a.lng);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(s));
}
