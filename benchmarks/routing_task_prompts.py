"""The labelled task-type set: hand-written templates times hand-written fillers.

Run ``python benchmarks/routing_task_prompts.py`` to (re)write
``benchmarks/data/routing_task_prompts.jsonl`` — one ``{"text", "task", "template"}`` per
line, deterministic. Every template was written by hand for this project (no external
data); each is filled with several topics/texts, so a template is a *way of asking* and
the held-aside evaluation (``routing_tasks.py``) holds out whole templates.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).parent / "data" / "routing_task_prompts.jsonl"

TEXTS = [
    "The meeting moved to Thursday at 3pm because the client, Acme Corp, asked for more time to review the Q3 budget of $1.2M.",
    "Our new phone has a 6.1-inch screen, 128 GB of storage and a battery that lasts two days; it ships on May 4 for $799.",
    "Dr. Elena Park joined Boston General Hospital in 2019 and now leads its cardiology department of 40 staff.",
    "I ordered a blue jacket on March 2 but received a red one, and customer support has not answered my three emails.",
    "The city council voted 7 to 2 to build a new bike lane on Main Street, costing about 3 million euros over two years.",
    "Researchers found that people who sleep less than six hours a night are more likely to catch a cold after exposure to the virus.",
    "The hotel was clean and the staff friendly, but the wifi kept dropping and breakfast ended far too early.",
    "Invoice 4471 from Northwind Ltd, dated 12 January 2024, totals $3,450.00 and is due within 30 days.",
]
TOPICS = ["photosynthesis", "inflation", "the French Revolution", "black holes", "vaccines",
          "machine learning", "the water cycle", "compound interest", "climate change", "the Roman Empire"]
LANGS = [("French", "Spanish"), ("German", "English"), ("English", "Japanese"), ("Italian", "English"),
         ("English", "Portuguese")]
CODE_ASKS = ["reverses a linked list", "parses a CSV file and sums the second column",
             "checks whether a string is a palindrome", "computes the nth Fibonacci number",
             "merges two sorted arrays", "validates an email address with a regex",
             "reads a JSON file and prints the keys", "implements binary search"]
CODE_LANGS = ["Python", "JavaScript", "Go", "Rust", "Java", "TypeScript", "C++", "SQL"]
CREATIVE = ["a lighthouse keeper who finds a message in a bottle", "a robot learning to paint",
            "the last day of summer", "a city where it never stops raining", "two rival bakers",
            "a dragon afraid of heights", "first snow in the mountains", "an old map"]
FACTS = ["the capital of Australia", "the boiling point of water in Fahrenheit", "who wrote Hamlet",
         "the largest planet in the solar system", "how many continents there are",
         "the chemical symbol for gold", "what year the Berlin Wall fell", "the tallest mountain on Earth"]
REASON = [
    "A train leaves at 9:40 and travels 180 km at 72 km/h, then waits 15 minutes and covers 60 km at 90 km/h. When does it arrive?",
    "If all bloops are razzies and some razzies are lazzies, can we conclude that some bloops are lazzies?",
    "A company's revenue grew 12% in year one and fell 8% in year two. Is it above or below where it started, and by how much?",
    "Three boxes are mislabeled apples, oranges and mixed. You may pick one fruit from one box. How do you relabel them all?",
    "Should a startup with 14 months of runway hire two senior engineers or four juniors? Weigh the trade-offs.",
    "Prove that the sum of two odd integers is even.",
    "A bat and a ball cost $1.10 in total; the bat costs $1.00 more than the ball. How much is the ball?",
    "Given a 5% annual interest rate compounded monthly, how long does it take to double an investment?",
]
CHAT = ["hi there!", "how's your day going?", "thanks, that helped a lot", "I'm bored, talk to me",
        "good morning :)", "lol that's funny", "can we just chat for a bit?", "I had a rough day at work"]

TEMPLATES: dict[str, list[str]] = {
    "classification": [
        "Classify the sentiment of this review as positive, negative or neutral: {text}",
        "Is the following message spam or not spam? Answer with one word.\n\n{text}",
        "Which category does this text belong to: sports, politics, business, health, technology?\n{text}",
        "Label this customer message as complaint, question or praise: \"{text}\"",
        "Tag the topic of the following paragraph with one label from [finance, travel, health, tech, other].\n{text}",
        "Determine whether this statement is urgent or not urgent: {text}",
        "Categorize the intent of this email (billing, support, sales, other): {text}",
        "Read the text and reply only with POSITIVE or NEGATIVE.\n{text}",
    ],
    "extraction": [
        "Extract all dates, amounts and company names from this text as JSON: {text}",
        "From the following passage, pull out every person's name and their role.\n{text}",
        "List the numbers mentioned in this text and what each refers to: {text}",
        "Return a JSON object with fields name, date and amount taken from: {text}",
        "Find the invoice number, due date and total in the text below.\n{text}",
        "Identify the entities (people, organisations, places) in: {text}",
        "Get the email addresses and phone numbers out of this message, one per line: {text}",
        "Parse this into key: value pairs (who, what, when, where): {text}",
    ],
    "summarization": [
        "Summarize the following in one sentence: {text}",
        "TL;DR: {text}",
        "Give me a short summary of this paragraph.\n\n{text}",
        "Condense this into three bullet points: {text}",
        "Write a brief abstract of the text below.\n{text}",
        "What is the gist of this? Keep it under 20 words. {text}",
        "Summarise these meeting notes for someone who missed it: {text}",
        "Boil this down to the key takeaway: {text}",
    ],
    "translation": [
        "Translate this into {b}: {text}",
        "How do you say this in {b}? \"{text}\"",
        "Please translate the following {a} text to {b}.\n{text}",
        "Render this sentence in {b}, keeping the tone formal: {text}",
        "{a} to {b}, please: {text}",
        "Can you give me the {b} version of: {text}",
        "Translate to {b} and keep the numbers unchanged: {text}",
        "I need this in {b} for a client: {text}",
    ],
    "simple_qa": [
        "What is {fact}?",
        "Quick question: {fact}?",
        "Tell me {fact}.",
        "Do you know {fact}?",
        "In one word, {fact}?",
        "Can you remind me {fact}?",
        "I forgot {fact} - what is it?",
        "Just the answer please: {fact}",
    ],
    "complex_reasoning": [
        "{reason}",
        "Think step by step. {reason}",
        "Work through this carefully and show your reasoning: {reason}",
        "Solve: {reason}",
        "Here is a puzzle for you. {reason} Explain your answer.",
        "Analyse the following problem and justify each step. {reason}",
        "{reason} Consider edge cases before answering.",
        "I've been stuck on this: {reason}",
    ],
    "code_generation": [
        "Write a {lang} function that {ask}.",
        "Implement a {lang} program that {ask}, with tests.",
        "Can you code something in {lang} that {ask}?",
        "Give me {lang} code that {ask}. Only the code.",
        "I need a {lang} snippet that {ask}.",
        "Create a small {lang} class that {ask}.",
        "Fix and complete this {lang} code so it {ask}:\n```\ndef solve(x):\n    pass\n```",
        "Write a unit-tested {lang} module which {ask}.",
    ],
    "creative_writing": [
        "Write a short story about {idea}.",
        "Compose a poem about {idea}.",
        "Write a haiku about {idea}.",
        "Draft the opening paragraph of a novel about {idea}.",
        "Create a funny limerick about {idea}.",
        "Write song lyrics about {idea}.",
        "Imagine {idea} and describe it vividly in 200 words.",
        "Write a bedtime story for a child about {idea}.",
    ],
    "chat": [
        "{chat}",
        "{chat} what do you think?",
        "hey, {chat}",
        "{chat} 😊",
        "ok. {chat}",
        "{chat} anyway, how are you?",
        "yo {chat}",
        "{chat} haha",
    ],
}
# Which filler each label's templates take, and how many prompts per template.
PER_TEMPLATE = 8


def fill(task: str, template: str, rng: random.Random) -> str:
    a, b = rng.choice(LANGS)
    return template.format(
        text=rng.choice(TEXTS), topic=rng.choice(TOPICS), a=a, b=b, lang=rng.choice(CODE_LANGS),
        ask=rng.choice(CODE_ASKS), idea=rng.choice(CREATIVE), fact=rng.choice(FACTS),
        reason=rng.choice(REASON), chat=rng.choice(CHAT),
    )


def build() -> list[dict[str, str]]:
    rng = random.Random(20241129)
    rows: list[dict[str, str]] = []
    for task, templates in TEMPLATES.items():
        for number, template in enumerate(templates):
            seen: set[str] = set()
            for _ in range(PER_TEMPLATE * 4):
                text = fill(task, template, rng)
                if text not in seen:
                    seen.add(text)
                    rows.append({"text": text, "task": task, "template": f"{task}/{number}"})
                if len(seen) == PER_TEMPLATE:
                    break
    return rows


if __name__ == "__main__":
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} prompts → {OUT}")
