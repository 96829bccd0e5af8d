"""Attached documents for the LLM-prompt pairs (``make_llm_prompt_pairs.py``).

Every text here was written for this set (fictional memos, notices, reviews, logs and
code), so it carries no third-party terms. Two are longer than the 256 word pieces the
default embedder reads, so a change past that point is invisible to the embedding.
"""

from __future__ import annotations

MEMO_OFFICE = (
    "To all staff: starting next Monday the third-floor kitchen will close for renovation. "
    "Coffee and tea will be available on the second floor until the work is finished, "
    "which the contractor expects to take about three weeks. Please do not leave food in "
    "the third-floor fridge after Friday; anything left will be thrown away. Desks near the "
    "kitchen may be noisy during the day, so the quiet room on the fourth floor can be "
    "booked through the usual calendar. Questions go to the facilities team."
)
MEMO_TRAVEL = (
    "Team, the travel policy changes on the first of next month. Economy class is now "
    "required for every flight under six hours, and hotel bookings must go through the "
    "company portal so that the negotiated rates apply. Receipts for meals are needed only "
    "above the daily allowance. Trains remain the preferred option for trips under four "
    "hours. Managers approve trips in the portal before anything is booked; late approvals "
    "mean the traveller pays any price difference. Reach out to finance with questions."
)
REVIEW_HEADPHONES = (
    "I have used these headphones every day for two months. The noise cancelling is "
    "excellent on the train and the battery easily lasts a week of commuting. The ear cups "
    "get warm after an hour, and the companion app asked me to create an account before "
    "it would let me change the equaliser, which annoyed me. Calls sound clear to the "
    "people I talk to. For the price I expected a sturdier case; mine cracked at the hinge."
)
REVIEW_BLENDER = (
    "This blender is loud, but it crushes ice in seconds and the glass jug is easy to "
    "clean. The lid fits tightly, so nothing leaked even with hot soup. The controls are a "
    "single dial, which I like. After six weeks the base started to smell of burning when "
    "I made nut butter, and customer service replied only after ten days. I would buy it "
    "again for smoothies, not for heavy jobs."
)
EMAIL_CUSTOMER = (
    "Hello, I ordered a standing desk on the 4th and the delivery window said Tuesday. "
    "Nobody came, and the tracking page has shown 'out for delivery' for three days now. "
    "I took a day off work to wait for it. Could you tell me where the parcel actually is "
    "and whether I can get the delivery fee refunded? My order number is in the subject "
    "line. Thanks, Dana"
)
EMAIL_VENDOR = (
    "Hi, following our call on Thursday, we can offer the annual plan at the price we "
    "discussed if the contract is signed before the end of the quarter. The plan includes "
    "priority support and two onboarding sessions for your team. We would need the "
    "billing contact and the number of seats by next Wednesday to prepare the paperwork. "
    "Let me know if anything in the proposal is unclear. Best regards, Sam"
)
NEWS_COUNCIL = (
    "The city council voted on Tuesday evening to turn the car park behind the old "
    "library into a public garden. Supporters said the neighbourhood lacks green space; "
    "shop owners on the high street worried that customers would have nowhere to park. "
    "The council promised a review of parking in the area before construction starts next "
    "spring. Local schools have offered to look after part of the planting."
)
NEWS_BRIDGE = (
    "Engineers closed the river footbridge on Monday after an inspection found corrosion "
    "in two of its supporting cables. Pedestrians are being directed to the road bridge a "
    "kilometre downstream, which adds about fifteen minutes to the walk into town. The "
    "repair is expected to take two months. Cyclists have asked for a temporary lane on "
    "the road bridge while the footbridge is closed."
)
LOG_DEPLOY = (
    "2024-03-02 10:14:07 INFO starting deploy of billing-api build 812\n"
    "2024-03-02 10:14:31 INFO migrations applied: 0 pending\n"
    "2024-03-02 10:15:02 WARN health check /ready returned 503 (attempt 1 of 5)\n"
    "2024-03-02 10:15:12 WARN health check /ready returned 503 (attempt 2 of 5)\n"
    "2024-03-02 10:15:22 ERROR connection refused: postgres://billing-db:5432\n"
    "2024-03-02 10:15:32 ERROR deploy aborted, rolling back to build 811"
)
LOG_WORKER = (
    "worker-3 | job 5521 picked up (resize-images, 40 files)\n"
    "worker-3 | job 5521 file 17: PIL.UnidentifiedImageError: cannot identify image file\n"
    "worker-3 | job 5521 retry 1 scheduled in 30s\n"
    "worker-3 | job 5521 file 17: PIL.UnidentifiedImageError: cannot identify image file\n"
    "worker-3 | job 5521 moved to dead-letter queue after 2 attempts"
)
CODE_PY = (
    "def average(values):\n"
    "    total = 0\n"
    "    for v in values:\n"
    "        total += v\n"
    "    return total / len(values)\n"
)
CODE_PY_OTHER = (
    "def median(values):\n"
    "    ordered = sorted(values)\n"
    "    middle = len(ordered) // 2\n"
    "    return ordered[middle]\n"
)
CODE_JS = (
    "async function loadUser(id) {\n"
    "  const res = await fetch('/api/users/' + id);\n"
    "  const data = res.json();\n"
    "  return data.name;\n"
    "}\n"
)
CODE_JS_OTHER = (
    "function debounce(fn, wait) {\n"
    "  let timer;\n"
    "  return (...args) => {\n"
    "    clearTimeout(timer);\n"
    "    timer = setTimeout(() => fn(...args), wait);\n"
    "  };\n"
    "}\n"
)
CODE_SQL = (
    "SELECT c.name, COUNT(o.id)\n"
    "FROM customers c\n"
    "LEFT JOIN orders o ON o.customer_id = c.id\n"
    "WHERE o.created_at > '2024-01-01'\n"
    "GROUP BY c.name;"
)
CODE_SQL_OTHER = (
    "SELECT p.category, AVG(p.price)\n"
    "FROM products p\n"
    "WHERE p.discontinued = false\n"
    "GROUP BY p.category\n"
    "HAVING COUNT(*) > 5;"
)

# Two long documents: identical for their first ~300 words, different at the end.
_LONG_HEAD = (
    "Minutes of the quarterly operations review. Attendance: the heads of logistics, "
    "customer service, finance and engineering, and the operations director, who chaired. "
    "The director opened by thanking the warehouse team for absorbing the seasonal peak "
    "without overtime beyond what was budgeted. Logistics reported that average delivery "
    "time fell from four days to three and a half, mostly because the new regional depot "
    "now handles orders for the north. Returns remain high for furniture, where customers "
    "often underestimate the size of items; the team proposed adding room-planning "
    "guidance to product pages. Customer service said call volumes were stable but chat "
    "volumes grew by a third, and asked for two more agents on the evening shift. Finance "
    "noted that carrier costs rose faster than revenue and recommended renegotiating the "
    "contract with the main parcel carrier before the summer. Engineering presented the "
    "plan to replace the order-tracking page, which customers rate poorly, with a version "
    "that shows each step of the delivery and sends notifications. The review then turned "
    "to risks. The depot lease ends next year and the landlord has signalled a rent "
    "increase; the director asked finance to model staying against moving. Staff turnover "
    "in the warehouse is above the industry average, and exit interviews point to shift "
    "patterns rather than pay. Human resources will propose alternative rotas. The meeting "
    "agreed to revisit all of these items at the next review. "
)
LONG_MINUTES_A = _LONG_HEAD + (
    "Decisions: hire two evening chat agents immediately; open negotiations with the "
    "parcel carrier in April; approve the tracking-page project with a budget of forty "
    "thousand; postpone the depot decision until the rent offer is known."
)
LONG_MINUTES_B = _LONG_HEAD + (
    "Decisions: no new hires this quarter; keep the current parcel carrier contract "
    "unchanged; reject the tracking-page project for now; start looking for a new depot "
    "site straight away."
)
