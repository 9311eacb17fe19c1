#!/usr/bin/python3
"""make_contrast.py - writes models/sentiment-lstm/contrast.tsv, the sentiment contrast set.

Sentences that test what a bag of sentiment words gets wrong: negation that flips a positive
or a negative word, intensifiers, and a contrast "but" whose second clause decides, with plain
controls. Written from the word lists and patterns below (mine, not taken from any split of
the UCI sentences) plus hand-written sentences, among them the six the issue quotes.
Deterministic: the same file every run.

  /usr/bin/python3 bench/make_contrast.py > models/sentiment-lstm/contrast.tsv

Columns: label (0 negative, 1 positive), category, origin (pattern: from the lists and
patterns, hand: written one by one), text.
"""
import sys

SUBJECTS = ["The food", "The service", "This phone", "The movie", "The battery", "The staff",
            "The acting", "This place", "The headset", "The plot", "The waiter", "The charger",
            "The soundtrack", "The case", "The pizza", "The ending", "The screen", "The dessert"]
POS = ["good", "great", "excellent", "nice", "amazing", "impressive", "comfortable", "tasty",
       "friendly", "enjoyable", "fantastic", "wonderful"]
NEG = ["bad", "terrible", "awful", "horrible", "poor", "disappointing", "boring", "rude",
       "bland", "useless", "mediocre", "annoying"]

# (category, label, pattern); {s} subject, {p} positive word, {n} negative word
PATTERNS = [
    ("negated_positive", 0, "{s} was not {p}."),
    ("negated_positive", 0, "{s} wasn't {p} at all."),
    ("negated_positive", 0, "{s} is not very {p}."),
    ("negated_positive", 0, "Honestly, {s_l} was never {p}."),
    ("negated_negative", 1, "{s} was not {n}."),
    ("negated_negative", 1, "{s} wasn't {n} at all."),
    ("negated_negative", 1, "{s} is not {n} in any way."),
    ("negated_negative", 1, "Honestly, {s_l} was never {n}."),
    ("intensifier", 1, "{s} was really {p}."),
    ("intensifier", 1, "{s} is extremely {p}!"),
    ("intensifier", 0, "{s} was really {n}."),
    ("intensifier", 0, "{s} is extremely {n}!"),
    ("contrast_but", 0, "{s} looked {p} but it turned out {n}."),
    ("contrast_but", 1, "{s} seemed {n} at first but it was {p}."),
    ("control", 1, "{s} was {p}."),
    ("control", 0, "{s} was {n}."),
]

HAND = [
    ("negated_negative", 1, "not bad at all"),
    ("negated_negative", 1, "It was not bad."),
    ("negated_negative", 1, "The service was not terrible"),
    ("negated_negative", 1, "I don't hate it"),
    ("negated_negative", 1, "Not the worst"),
    ("negated_negative", 1, "I can't complain"),
    ("negated_negative", 1, "No complaints here."),
    ("negated_negative", 1, "I was never disappointed with this phone."),
    ("negated_negative", 1, "You won't regret buying it."),
    ("negated_negative", 1, "Nothing to complain about."),
    ("negated_negative", 1, "The wait was not long at all."),
    ("negated_negative", 1, "I have no problems with it."),
    ("negated_positive", 0, "I would not recommend this place."),
    ("negated_positive", 0, "not good"),
    ("negated_positive", 0, "I didn't like it."),
    ("negated_positive", 0, "Nothing special."),
    ("negated_positive", 0, "I don't love it."),
    ("negated_positive", 0, "It doesn't work well."),
    ("negated_positive", 0, "Not worth the money."),
    ("negated_positive", 0, "I will never buy this again."),
    ("negated_positive", 0, "The staff was not helpful."),
    ("negated_positive", 0, "Not impressed."),
    ("contrast_but", 1, "It's a bit pricey, but worth every penny."),
    ("contrast_but", 0, "The menu looked great, but the food was cold."),
    ("contrast_but", 1, "The first half drags, but the ending is brilliant."),
    ("contrast_but", 0, "Nice design but the battery dies in an hour."),
    ("contrast_but", 1, "I expected the worst, but it works perfectly."),
    ("contrast_but", 0, "Good idea, but a terrible movie."),
    ("intensifier", 1, "Absolutely loved it!"),
    ("intensifier", 0, "Extremely disappointed."),
    ("intensifier", 1, "Very happy with this purchase."),
    ("intensifier", 0, "Totally useless."),
]


def main():
    rows = []
    for k, (cat, label, pat) in enumerate(PATTERNS):
        for i in range(11):  # 16 patterns x 11 subjects: every word list walked with other strides
            s = SUBJECTS[(i + 5 * k) % len(SUBJECTS)]
            p = POS[(3 * i + k) % len(POS)]
            n = NEG[(5 * i + k) % len(NEG)]
            rows.append((label, cat, "pattern", pat.format(s=s, s_l=s[0].lower() + s[1:], p=p, n=n)))
    rows += [(label, cat, "hand", text) for cat, label, text in HAND]
    seen = set()
    out = sys.stdout
    out.write("label\tcategory\torigin\ttext\n")
    for label, cat, origin, text in rows:
        if text in seen:
            continue
        seen.add(text)
        out.write(f"{label}\t{cat}\t{origin}\t{text}\n")


if __name__ == "__main__":
    main()
