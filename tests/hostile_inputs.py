"""A corpus of hostile and unusual sentences: every one must give a picture or a clear message,
never an exception box, a dialog or running script. Shared by the AppTest and browser tests."""

HOSTILE_INPUTS: dict[str, str] = {
    # HTML and script injection
    "script_tag": "<script>alert(1)</script>",
    "img_onerror": "<img src=x onerror=alert(1)>",
    "svg_onload": "<svg onload=alert(1)>",
    "iframe_js": '<iframe src="javascript:alert(1)"></iframe>',
    "a_javascript": '<a href="javascript:alert(1)">click</a>',
    "body_onload": "<body onload=alert(1)>",
    "style_expression": '<div style="background:url(javascript:alert(1))">x</div>',
    "closing_tags": "</div></span></script><script>alert(1)</script>",
    "entity_encoded": "&lt;script&gt;alert(1)&lt;/script&gt;",
    "attribute_break": '" onmouseover="alert(1)',
    "template_literal": "${alert(1)} {{7*7}} <%= 7*7 %>",
    "data_uri": '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
    "plotly_link": '<a href="javascript:alert(1)">saw</a> I saw a saw',
    "plotly_tags": "<b>bold</b> <i>it</i> <br> <sup>up</sup> <span style='color:red'>red</span>",
    # Markdown and LaTeX injection
    "markdown_link": "[click me](javascript:alert(1))",
    "markdown_image": "![x](http://127.0.0.1:1/x.png)",
    "markdown_heading": "# Heading\n## Sub",
    "markdown_emphasis": "**bold** _it_ `code` ~~strike~~",
    "streamlit_color": ":red[danger] :rainbow[x] :material/home:",
    "emoji_shortcode": ":smile: :+1: :fire:",
    "latex_inline": "$x^2 + \\frac{1}{2}$",
    "latex_block": "$$\\begin{matrix} a & b \\end{matrix}$$",
    "latex_macro": "\\def\\x{\\x}\\x",
    "table_pipes": "| a | b |\n|---|---|\n| 1 | 2 |",
    "backslashes": "\\\\\\\\ \\n \\t \\x00",
    # Size
    "chars_100k": "a" * 100_000,
    "words_100k": "saw " * 25_000,
    "one_long_word": "pneumonoultramicroscopicsilicovolcanoconiosis" * 50,
    # Control and invisible characters
    "nul": "I saw\x00 a saw",
    "controls": "".join(chr(c) for c in range(1, 32)) + "visible",
    "del_c1": "a\x7fb\x85c\x9fd",
    "zero_width": "I\u200bsaw\u200ca\u200dsaw\ufeff",
    "combining": "s\u0301a\u0302w\u0303 " + "e" + "\u0301" * 50,
    "bidi_override": "\u202eI saw a saw\u202c",
    "lone_surrogate_like": "\ufffd\ufffe\uffff",
    "only_whitespace_mix": "\u00a0\u2003\u3000",
    # Scripts and emoji
    "rtl_hebrew": "ראיתי מסור",
    "rtl_arabic": "رأيت منشارا",
    "emoji_zwj": "👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽",
    "emoji_only": "😀😀😀",
    "flags": "🇨🇳🇺🇸🇬🇧",
    "mixed_scripts": "I saw 一把锯子 и пилу ραβδί",
    "chinese": "我看见了一把锯子",
    "japanese": "のこぎりを見た",
    "korean": "나는 톱을 보았다",
    "devanagari": "मैंने आरी देखी",
    "thai": "ฉันเห็นเลื่อย",
    # Degenerate content
    "only_punctuation": "?!.,;:…—",
    "only_unk": "\U0001f9ff\U0001fa90\U0001fae0",
    "one_char": "a",
    "numbers": "3.14159 2.71828 1e10 -0 NaN inf",
    "repeated": "the " * 200,
    "special_token_text": "[CLS] [SEP] [MASK] [PAD] [UNK]",
    "sql": "'; DROP TABLE students; --",
    "path": "../../../../etc/passwd",
    "format_string": "{0} {text} %s %d {{}}",
}


def varied(base: list[str], prefixes: list[str], rng) -> list[str]:
    """Each text of `base` six ways (a tokenizer's corner cases): upper case, spaces doubled, a number after, one of
    `prefixes` before, another text of `base` on the next line, its first half. `rng`: a `random.Random`."""
    ways = [
        lambda s: s.upper(),
        lambda s: s.replace(" ", "  "),
        lambda s: f"{s} {rng.randint(0, 10**6)}",
        lambda s: rng.choice(prefixes) + s,
        lambda s: f"{s}\n{rng.choice(base)}",
        lambda s: s[: len(s) // 2],
    ]
    return [way(s) for s in base for way in ways]
