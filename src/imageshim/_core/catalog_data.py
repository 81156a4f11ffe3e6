"""The built-in model catalog: capabilities and lifecycle as plain data, a source on every fact.

Edit here to change a fact for everyone; users correct or add entries without a release through
``[[models]]`` in their config. Provider-specific differences (Runware's edges and result counts, ...)
live beside the adapter that talks to that provider, not here.

Sources (full citations in MIGRATION.md):
- SPEC: openai/openai-openapi openapi.yaml @ f85dbe22 (2026-08-21), CreateImageRequest.
- SDK: the ``openai`` Python SDK 3.54.0, ``types/image_model.py`` and ``resources/images.py`` docstrings.
- SDK_3_57: the same files in ``openai`` 3.57.0 (what the test environment installs), read for the models
  research/openai.md names without facts (chatgpt-image-latest, gpt-image-2.6-*), and for the parameters
  it adds (``types/image_generate_params.py``): complexity, frame_count, frame_duration_ms, gif/svg output,
  svg, quality xhigh/max, safety_identifier. Facts taken from it are cited per fact in ``fact_sources``.
- FIELD_REPORT: research/field-report.md (2026-11-27): the Vercel AI SDK sends complexity, frame_count and
  gif output for gpt-image-2.6 (a client's habit, not OpenAI's word: a weak second source).
- DEPRECATIONS: OpenAI's deprecations page.
- DALLE3_PAGE / DALLE2_PAGE: OpenAI's model pages ("deprecated and removed from the API").
- RUNWARE_DALLE3: Runware's DALL·E 3 model page ("deactivated on May 12, 2026. Migrate to GPT Image 2.").
- PRICING: OpenAI's pricing page. Its GPT Image 2 figures were not readable offline; research/openai.md
  takes them from third parties quoting it (xairouter.com, ai-primer.com, Vercel), and Runware's GPT
  Image 2 page lists the same token prices and per-image estimates.
- GUIDE_PRICES: OpenAI's image-generation guide, "Cost and latency": per-image prices of GPT Image 2 / 1.5 /
  1 / 1 Mini at 1024x1024, 1024x1536 and 1536x1024, and the output-token table of the models before GPT
  Image 2. Read (2026-11-27) from third-party copies of the page in public repositories, not from OpenAI's
  site: UNCERTAIN. The GPT Image 2 rows agree with PRICING and with users.md (OpenMontage#256).
- CALCULATOR: GPT Image 2's output tokens for any size: OpenAI's pricing calculator as a developer read it
  from the page's code (OpenAI developer forum, 2026-06-05), read here 2026-11-27. UNCERTAIN: OpenAI states no
  formula. It gives every figure we hold: the calculator's own outputs quoted on launch day (1024x1024 high
  7024 tokens, 1536x1024 5488, 1792x1024 5063, 3584x2048 12329), the per-image prices of PRICING and
  GUIDE_PRICES at all three qualities, and Runware's recorded cost for 1536x1024 high (runware.md).

Prices are dated (``price_as_of``: the day the source was read into research/); an estimate says which.
"""

from __future__ import annotations

from typing import Any

SPEC = "https://github.com/openai/openai-openapi/blob/f85dbe223d40e1a31cba812ab2d755c7e98a92a3/openapi.yaml"
SDK = "https://pypi.org/project/openai/3.54.0/"
SDK_3_57 = "https://pypi.org/project/openai/3.57.0/"
DEPRECATIONS = "https://developers.openai.com/api/docs/deprecations"
DALLE3_PAGE = "https://developers.openai.com/api/docs/models/dall-e-3"
DALLE2_PAGE = "https://developers.openai.com/api/docs/models/dall-e-2"
RUNWARE_DALLE3 = "https://runware.ai/docs/models/openai-dalle-3/examples"
GPT_IMAGE_2_GUIDE = "https://github.com/openai/openai-python/blob/main/src/openai/resources/images.py"
PRICING = "https://openai.com/api/pricing/"
SDK_3_57_PARAMS = "https://pypi.org/project/openai/3.57.0/ (types/image_generate_params.py)"
RUNWARE_GPT_IMAGE_2 = "https://runware.ai/docs/models/openai-gpt-image-2"
GUIDE_PRICES = (
    "https://developers.openai.com/api/docs/guides/image-generation (cost tables, as copied by third parties; "
    "UNCERTAIN)"
)
CALCULATOR = (
    "https://community.openai.com/t/gpt-image-2-output-pricing-calculator-online-and-in-your-code/1382699 "
    "(OpenAI's calculator as read by a developer; UNCERTAIN)"
)
#: the days the prices were read: openai.md / runware.md (2026-11-24); GUIDE_PRICES and CALCULATOR (2026-11-27)
PRICES_READ = "2026-11-24"
GUIDE_READ = "2026-11-27"

# GPT Image 2 output image tokens per image, at the three sizes every GPT image model takes (CALCULATOR;
# 1024x1024 high and 1536x1024 high are the calculator's own outputs as quoted on launch day, the rest its
# rule). Times $30/1M they are the published per-image prices: low $0.006 / $0.005, medium $0.053 / $0.041,
# high $0.211 / $0.165 (PRICING, GUIDE_PRICES). UNCERTAIN: not read from OpenAI's own page.
GPT_IMAGE_2_OUTPUT_TOKENS: dict[str, dict[str, int]] = {
    "low": {"1024x1024": 196, "1536x1024": 158, "1024x1536": 158},
    "medium": {"1024x1024": 1756, "1536x1024": 1372, "1024x1536": 1372},
    "high": {"1024x1024": 7024, "1536x1024": 5488, "1024x1536": 5488},
}
# Any other size: the calculator's rule (catalog.TokenRule). UNCERTAIN (see CALCULATOR); it matches
# 1792x1024 high (5063) and 3584x2048 high (12329) as the calculator gave them, where scaling the nearest
# listed size by pixels would say 6403 and 26,000+.
GPT_IMAGE_2_TOKEN_RULE: dict[str, Any] = {
    "quality_factors": {"low": 16, "medium": 48, "high": 96},
    "area_offset": 2_000_000,
    "area_divisor": 4_000_000,
}
# $5/1M text in, $8/1M image in, $30/1M image out (PRICING as quoted; Runware's page lists the same).
GPT_IMAGE_2_TOKEN_PRICES: dict[str, float] = {"text_input": 5.0e-6, "image_input": 8.0e-6, "output": 30.0e-6}

# GPT Image 2 custom sizes: both edges multiples of 16, long:short <= 3:1, max edge 3840, and
# 655,360..8,294,400 pixels ("must also satisfy current pixel and edge limits": SDK docstring; the numbers
# are OpenAI's image-generation guide as quoted consistently by several gateways: see openai.md).
GPT_IMAGE_2_RULE: dict[str, Any] = {
    "multiple_of": 16,
    "min_edge": 16,
    "max_edge": 3840,
    "max_ratio": 3.0,
    "min_pixels": 655_360,
    "max_pixels": 8_294_400,
}

_GPT_IMAGE_COMMON: dict[str, Any] = {
    "qualities": ("low", "medium", "high", "auto"),
    "default_quality": "auto",
    "styles": (),
    "max_n": 10,
    "prompt_max": 32_000,
    "response_formats": ("b64_json",),
    "output_formats": ("png", "jpeg", "webp"),
    "backgrounds": ("transparent", "opaque", "auto"),
    "moderations": ("auto", "low"),
    "end_user_id": True,
    "revised_prompt": False,
    "streaming": True,
    "usage": True,
    # SDK 3.57: `safety_identifier` is a parameter of the endpoint, for every GPT image model it names
    # ("A non-empty value takes precedence over the deprecated `user` parameter").
    "safety_identifier": True,
    # SDK 3.57 names no model for `complexity` ("uses the image model's configured default"), and GIF / SVG
    # output "require a model that supports the selected format" and preview access, without a list.
    # UNCERTAIN for every model; the safe side for models before GPT Image 2.5: no complexity (dropped with
    # a warning: the image is still the one asked for) and no gif/svg (refused before any request: another
    # kind of output is never substituted, and nothing is billed). Correct either through [[models]].
    "complexities": (),
    "fact_sources": {"safety_identifier": SDK_3_57_PARAMS, "complexities": SDK_3_57_PARAMS},
}
#: what the GPT Image 2.5 / 2.6 families take of the SDK 3.57 parameters (see the entries below)
_NEW_PARAMETERS: dict[str, Any] = {
    "complexities": ("low", "medium", "high"),
    "output_formats": ("png", "jpeg", "webp", "gif", "svg"),
}

MODELS: dict[str, dict[str, Any]] = {
    "dall-e-2": {
        "name": "DALL·E 2",
        "sizes": ("256x256", "512x512", "1024x1024"),
        "default_size": "1024x1024",
        "qualities": ("standard",),
        "default_quality": "standard",
        "styles": (),
        "max_n": 10,
        "prompt_max": 1000,
        "response_formats": ("url", "b64_json"),
        "output_formats": (),  # always PNG; the API takes no output_format
        "backgrounds": (),
        "moderations": (),
        "end_user_id": True,
        "revised_prompt": False,
        "streaming": False,
        "usage": False,
        "notice_on": "2025-11-14",
        "shutdown_on": "2026-05-12",
        "successor": "gpt-image-2",
        "lifecycle_source": DALLE2_PAGE,
        "capability_source": SPEC,
        "price_per_image": {"standard": {"256x256": 0.016, "512x512": 0.018, "1024x1024": 0.020}},
        "price_source": "https://openai.com/api/pricing/ (2023 table, as copied in openai.md)",
        "price_as_of": PRICES_READ,
    },
    "dall-e-3": {
        "name": "DALL·E 3",
        "sizes": ("1024x1024", "1792x1024", "1024x1792"),
        "default_size": "1024x1024",
        "qualities": ("standard", "hd"),
        "default_quality": "standard",
        "styles": ("vivid", "natural"),
        "max_n": 1,
        "prompt_max": 4000,
        "response_formats": ("url", "b64_json"),
        "output_formats": (),  # always PNG; the API takes no output_format
        "backgrounds": (),
        "moderations": (),
        "end_user_id": True,
        "revised_prompt": True,
        "streaming": False,
        "usage": False,
        "notice_on": "2025-11-14",
        "shutdown_on": "2026-05-12",
        # OpenAI's model page now suggests GPT Image 2.5 Sunburst; Runware's says "Migrate to GPT Image 2",
        # and GPT Image 2 is the model both providers serve with the same options: we redirect there.
        "successor": "gpt-image-2",
        # OpenAI's page says the model was "deprecated and removed from the API"; the date is in the SDK 3.54
        # ImageModel docstring ("retired on May 12, 2026") and on Runware's page (RUNWARE_DALLE3:
        # "deactivated on May 12, 2026. Migrate to GPT Image 2.", the second source; one URL fits here).
        "lifecycle_source": DALLE3_PAGE,
        "capability_source": SPEC,
        "price_per_image": {
            "standard": {"1024x1024": 0.040, "1792x1024": 0.080, "1024x1792": 0.080},
            "hd": {"1024x1024": 0.080, "1792x1024": 0.120, "1024x1792": 0.120},
        },
        "price_source": "https://openai.com/api/pricing/ (2023 table); Runware's recorded cost for hd 1792x1024 is 0.12",
        "price_as_of": PRICES_READ,
    },
    "gpt-image-1": {
        **_GPT_IMAGE_COMMON,
        "name": "GPT Image 1",
        "sizes": ("1024x1024", "1536x1024", "1024x1536", "auto"),
        "default_size": "auto",
        "notice_on": None,
        "shutdown_on": "2026-10-23",
        # OpenAI suggests gpt-image-2.5-sunburst or -flare (SDK 3.54 docstring). We keep gpt-image-2, as for
        # dall-e-3: the model OpenAI and Runware both serve with the same options (correct via [[models]]).
        "successor": "gpt-image-2",
        "lifecycle_source": SDK,
        "capability_source": SPEC,
        # Only the 1024x1024 prices are in openai.md, and those "from memory" (UNCERTAIN): other sizes get
        # no estimate rather than a guessed one (GUIDE_PRICES has them; the model is shut down, and a
        # [[models]] entry adds them where a scan of old code should price them).
        "price_per_image": {
            "low": {"1024x1024": 0.011},
            "medium": {"1024x1024": 0.042},
            "high": {"1024x1024": 0.167},
        },
        "price_source": "https://openai.com/api/pricing/ (2025 table from memory, UNCERTAIN: see openai.md)",
        "price_as_of": PRICES_READ,
    },
    "gpt-image-1-mini": {
        **_GPT_IMAGE_COMMON,
        "name": "GPT Image 1 Mini",
        "sizes": ("1024x1024", "1536x1024", "1024x1536", "auto"),
        "default_size": "auto",
        "notice_on": "2026-06-02",
        "shutdown_on": "2026-12-01",
        # OpenAI's suggestion changed over time (openai.md §5): gpt-image-2 (June), then
        # gpt-image-2.5-sunburst / -flare, then gpt-image-2.6-*. We keep gpt-image-2, as for dall-e-3: the
        # model OpenAI and Runware both serve with the same options (correct via [[models]]).
        "successor": "gpt-image-2",
        "lifecycle_source": DEPRECATIONS,
        "capability_source": SPEC,
        "price_per_image": {  # GUIDE_PRICES only (UNCERTAIN)
            "low": {"1024x1024": 0.005, "1536x1024": 0.006, "1024x1536": 0.006},
            "medium": {"1024x1024": 0.011, "1536x1024": 0.015, "1024x1536": 0.015},
            "high": {"1024x1024": 0.036, "1536x1024": 0.052, "1024x1536": 0.052},
        },
        "price_source": GUIDE_PRICES,
        "price_as_of": GUIDE_READ,
    },
    "gpt-image-1.5": {
        **_GPT_IMAGE_COMMON,
        "name": "GPT Image 1.5",
        "sizes": ("1024x1024", "1536x1024", "1024x1536", "auto"),
        "default_size": "auto",
        "notice_on": "2026-06-02",
        "shutdown_on": "2026-12-01",
        # OpenAI's suggestion changed over time (openai.md §5): gpt-image-2 (June), then
        # gpt-image-2.5-sunburst / -flare, then gpt-image-2.6-*. We keep gpt-image-2, as for dall-e-3: the
        # model OpenAI and Runware both serve with the same options (correct via [[models]]).
        "successor": "gpt-image-2",
        "lifecycle_source": DEPRECATIONS,
        "capability_source": SPEC,
        "price_per_image": {
            "low": {"1024x1024": 0.009, "1536x1024": 0.013, "1024x1536": 0.013},
            "medium": {"1024x1024": 0.034, "1536x1024": 0.050, "1024x1536": 0.050},
            "high": {"1024x1024": 0.133, "1536x1024": 0.200, "1024x1536": 0.200},
        },
        "price_source": f"https://docs.apiyi.com (third party, as quoted in openai.md); the same in {GUIDE_PRICES}",
        "price_as_of": PRICES_READ,
    },
    "gpt-image-2": {
        **_GPT_IMAGE_COMMON,
        "name": "GPT Image 2",
        "sizes": (),
        "size_rule": GPT_IMAGE_2_RULE,
        "default_size": "auto",
        # "Transparent background ... in preview" for gpt-image-2 (SDK 3.54 docstring); earlier a 400.
        "notice_on": None,
        "shutdown_on": None,
        "successor": None,
        "lifecycle_source": DEPRECATIONS,
        "capability_source": SDK,
        # Billed by token (openai.md §2 "Pricing": OpenAI's pricing page as quoted by third parties;
        # Runware's GPT Image 2 page, RUNWARE_GPT_IMAGE_2, lists the same figures): no per-image price, the
        # estimate is tokens x rates. Output tokens: the table, else the rule (both UNCERTAIN, see above).
        "price_per_token": GPT_IMAGE_2_TOKEN_PRICES,
        "output_tokens": GPT_IMAGE_2_OUTPUT_TOKENS,
        "output_token_rule": GPT_IMAGE_2_TOKEN_RULE,
        "price_per_image": None,
        "price_source": (
            f"{PRICING} (token prices as quoted by xairouter.com, ai-primer.com and Vercel; see openai.md); "
            f"output tokens: {CALCULATOR}"
        ),
        "price_as_of": PRICES_READ,
    },
}

for _id in ("gpt-image-2.5-sunburst", "gpt-image-2.5-flare"):
    # Named in the SDK 3.54 ImageModel literal; quality adds xhigh/max there. Their size limits are not
    # published in any source we hold: we assume GPT Image 2's rule (UNCERTAIN; correct via [[models]]).
    # xhigh / max: stated for these two and their 2026-09-08 snapshots only (SDK 3.57 `quality` docstring;
    # gpt-image-2 answers 400 "does not support quality 'xhigh'": users.md, lobehub#19342).
    # complexity, gif and svg output: UNCERTAIN (see _GPT_IMAGE_COMMON): the family that shipped with the
    # SDK 3.x parameters is assumed to take them; a wrong guess costs a free 400 from OpenAI.
    MODELS[_id] = {
        **MODELS["gpt-image-2"],
        **_NEW_PARAMETERS,
        "name": _id.replace("gpt-image-", "GPT Image ").replace("-", " ").title(),
        "qualities": ("low", "medium", "high", "xhigh", "max", "auto"),
        "fact_sources": {
            "safety_identifier": SDK_3_57_PARAMS,
            "qualities": SDK_3_57_PARAMS,
            "complexities": f"{SDK_3_57_PARAMS}, UNCERTAIN: no model named",
            "output_formats": f"{SDK_3_57_PARAMS}, UNCERTAIN: gif/svg need preview access, no model named",
        },
        "capability_source": SDK,
        # "Token rates are the same as gpt-image-2" (users.md timeline: llmgateway#3985 and others): the
        # cost of a reply is priced from its usage. How many tokens a size and quality make (and xhigh/max)
        # is published nowhere we read: no estimate before the call (a cap refuses it; add output_tokens
        # or price_per_image through [[models]] to price it).
        "price_per_token": GPT_IMAGE_2_TOKEN_PRICES,
        "output_tokens": None,
        "output_token_rule": None,
        "price_per_image": None,
        "price_source": "users.md: token rates as gpt-image-2 (llmgateway#3985); UNCERTAIN",
        "price_as_of": GUIDE_READ,
    }

# GPT image models research/openai.md names without capabilities. The SDK 3.57 generate() docstring lists
# them as supported GPT image models and states only what holds for every GPT image model: the standard
# sizes 1024x1024, 1536x1024, 1024x1536; quality low/medium/high/auto; n 1-10; 32000-character prompts;
# output_format, output_compression, moderation and stream. Custom sizes are stated for gpt-image-2 and
# 2.5 only, xhigh/max for 2.5 only. Everything else is UNCERTAIN and set to the safe side: no "auto" size
# (the default 1024x1024 is sent instead) and no transparent background (refused before any request
# rather than paid for and refused by OpenAI). Correct either through [[models]].
_GPT_IMAGE_STANDARD: dict[str, Any] = {
    **_GPT_IMAGE_COMMON,
    "sizes": ("1024x1024", "1536x1024", "1024x1536"),
    "default_size": "1024x1024",
    "backgrounds": ("opaque", "auto"),
    "capability_source": SDK_3_57,
    "price_per_image": None,
    "price_source": None,
}
MODELS["chatgpt-image-latest"] = {
    **_GPT_IMAGE_STANDARD,
    "name": "ChatGPT Image Latest",
    # Shut down with gpt-image-1-mini and gpt-image-1.5 (openai.md §5, deprecations page).
    "notice_on": "2026-06-02",
    "shutdown_on": "2026-12-01",
    # Successor as for gpt-image-1.5 (the deprecations page's suggestion changed over time, openai.md §5).
    "successor": "gpt-image-2",
    "lifecycle_source": DEPRECATIONS,
}
for _id in ("gpt-image-2.6-sunburst", "gpt-image-2.6-flare"):
    # Named in the SDK ImageModel literal and as replacements on the deprecations page (zh-Hans snapshot,
    # openai.md §5): no shutdown announced. complexity and gif/svg output as for 2.5 (UNCERTAIN; the Vercel
    # AI SDK sends complexity, frame_count and gif output for 2.6: FIELD_REPORT). No xhigh/max: the SDK
    # states them for 2.5 only (xhigh/max asked of 2.6 are sent as "high", with a warning).
    MODELS[_id] = {
        **_GPT_IMAGE_STANDARD,
        **_NEW_PARAMETERS,
        "fact_sources": {
            "safety_identifier": SDK_3_57_PARAMS,
            "complexities": f"{SDK_3_57_PARAMS} and research/field-report.md (Vercel AI SDK), UNCERTAIN",
            "output_formats": f"{SDK_3_57_PARAMS} and research/field-report.md (Vercel AI SDK), UNCERTAIN",
        },
        "name": _id.replace("gpt-image-", "GPT Image ").replace("-", " ").title(),
        "notice_on": None,
        "shutdown_on": None,
        "successor": None,
        "lifecycle_source": DEPRECATIONS,
    }

# Dated snapshot names resolve to their family entry.
ALIASES: dict[str, str] = {
    "gpt-image-2-2026-04-21": "gpt-image-2",
    "gpt-image-1.5-2025-12-16": "gpt-image-1.5",
    "gpt-image-2.5-sunburst-2026-09-08": "gpt-image-2.5-sunburst",
    "gpt-image-2.5-flare-2026-09-08": "gpt-image-2.5-flare",
}
