"""Edits and variations: the caller's input images checked before any network call, and an edit mapped onto
a target like a generation is. Pure: no I/O, no clock.

An edit is a generation request (prompt, n, size, quality, response format, ...: mapped by
:mod:`.mapping`, every change warned) plus :class:`EditInputs`. :func:`read_image` turns uploaded bytes
into an :class:`InputImage` (a file that is not a PNG, JPEG, WebP or GIF is a 400 naming the field);
:func:`map_edit` checks the inputs against what the target takes (how many images, formats, sizes, the
mask's size and alpha channel, markup) and drops ``input_fidelity`` with a warning where the target
refuses it. ``create_variation`` becomes an edit of the image with ``[mapping] variation_prompt``.

Facts, with their sources (openai-python 2026-08-21 ``image_edit_params``; SDK 3.57 docstrings; research
users.md section 4): GPT image models take up to 16 png/webp/jpg images under 50 MB each; the mask is a
PNG under 4 MB with an alpha channel, the size of the first image; DALL·E 2 took one square PNG under
4 MB; DALL·E 3 had no edits. ``input_fidelity``: high/low on gpt-image-1 and 1.5, low on 1-mini, refused
by gpt-image-2 (openai-cookbook#2622); for 2.5/2.6 and chatgpt-image-latest it is UNCERTAIN, so it is
omitted there (the safe choice: a 400 would cost the call). ``markup`` is GPT Image 2.5's (SDK 3.57), never
with a mask.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from imageshim._core.adapter import InputImage
from imageshim._core.errors import BadRequestError
from imageshim._core.media import inspect_image
from imageshim._core.warnings import WarningRecord

if TYPE_CHECKING:
    from imageshim._core.mapping import MappedRequest

__all__ = ["EditFacts", "EditInputs", "edit_facts", "map_edit", "read_image", "variation_warning"]

MB = 1 << 20
FIDELITIES = ("high", "low")
Kind = Literal["edit", "variation"]


@dataclasses.dataclass(frozen=True)
class EditInputs:
    """What an edit adds to a generation request: the images, and how to treat them."""

    images: tuple[InputImage, ...]
    mask: InputImage | None = None
    markup: InputImage | None = None
    input_fidelity: str | None = None
    kind: Kind = "edit"


@dataclasses.dataclass(frozen=True)
class EditFacts:
    max_images: int
    formats: tuple[str, ...]
    max_bytes: int
    square_only: bool = False
    fidelities: tuple[str, ...] = ()
    markup: bool = False


_GPT_IMAGE = EditFacts(16, ("image/png", "image/webp", "image/jpeg"), 50 * MB)
_FACTS: dict[str, EditFacts | None] = {
    "dall-e-2": EditFacts(1, ("image/png",), 4 * MB, square_only=True),
    "dall-e-3": None,
    "gpt-image-1": dataclasses.replace(_GPT_IMAGE, fidelities=FIDELITIES),
    "gpt-image-1.5": dataclasses.replace(_GPT_IMAGE, fidelities=FIDELITIES),
    "gpt-image-1-mini": dataclasses.replace(_GPT_IMAGE, fidelities=("low",)),
    "gpt-image-2": _GPT_IMAGE,
    "gpt-image-2.5-sunburst": dataclasses.replace(_GPT_IMAGE, markup=True),
    "gpt-image-2.5-flare": dataclasses.replace(_GPT_IMAGE, markup=True),
}


def edit_facts(model: str) -> EditFacts | None:
    """What ``model`` takes as edit inputs; None when it makes no edits. Models not listed are GPT image
    models of later lines (2.6, dated snapshots): the GPT image limits, no ``input_fidelity``."""
    if model in _FACTS:
        return _FACTS[model]
    for known, facts in _FACTS.items():
        if model.startswith(f"{known}-20"):  # a dated snapshot: its line's facts
            return facts
    return _GPT_IMAGE if model.startswith(("gpt-image", "chatgpt-image")) else None


def read_image(field: str, data: bytes, filename: str | None = None) -> InputImage:
    """An uploaded file as an :class:`InputImage`, or a 400 naming ``field`` when it is not an image."""
    if not data:
        raise BadRequestError(f"Invalid file for {field!r}: it is empty.", code="invalid_image", param=field)
    try:
        media_type, width, height, alpha = inspect_image(data)
    except ValueError as exc:
        name = f" ({filename})" if filename else ""
        raise BadRequestError(
            f"Invalid file for {field!r}{name}: {exc}. Allowed: PNG, JPEG or WebP images.",
            code="invalid_image_format",
            param=field,
        ) from None
    return InputImage(data, media_type, width, height, alpha, filename)


def _bad(field: str, message: str, code: str = "invalid_image") -> BadRequestError:
    return BadRequestError(message, code=code, param=field)


def _check_images(images: Sequence[InputImage], facts: EditFacts, model: str) -> None:
    if not images:
        raise _bad("image", "Missing required parameter: 'image' (one or more image files to edit).")
    if len(images) > facts.max_images:
        raise _bad(
            "image",
            f"{len(images)} images were sent; {model} takes at most {facts.max_images} per edit.",
        )
    for index, image in enumerate(images):
        field = "image" if len(images) == 1 else f"image[{index}]"
        if image.media_type not in facts.formats:
            allowed = ", ".join(f.split("/")[1] for f in facts.formats)
            raise _bad(
                field, f"{field} is {image.media_type}; {model} takes {allowed}.", "invalid_image_format"
            )
        if len(image.data) > facts.max_bytes:
            raise _bad(
                field, f"{field} is {len(image.data)} bytes; {model} takes under {facts.max_bytes // MB} MB."
            )
        if facts.square_only and image.width != image.height:
            raise _bad(field, f"{field} is {image.width}x{image.height}; {model} takes square images only.")


def _check_mask(inputs: EditInputs, model: str) -> None:
    mask, first = inputs.mask, inputs.images[0]
    if mask is None:
        return
    if mask.media_type != "image/png":
        raise _bad("mask", f"The mask is {mask.media_type}; it must be a PNG.", "invalid_image_format")
    if len(mask.data) > 4 * MB:
        raise _bad("mask", f"The mask is {len(mask.data)} bytes; it must be under 4 MB.")
    if (mask.width, mask.height) != (first.width, first.height):
        raise _bad(
            "mask",
            f"The mask is {mask.width}x{mask.height} but the image is {first.width}x{first.height}; they "
            "must be the same size.",
        )
    if not mask.has_alpha:
        raise _bad(
            "mask",
            "The mask has no alpha channel; its fully transparent pixels mark what to edit (save it as an "
            "RGBA PNG).",
        )


def map_edit(inputs: EditInputs, mapped: MappedRequest, *, adapter_edits: bool) -> MappedRequest:
    """``mapped`` (a generation mapped onto its target) with the edit's inputs, checked for that target;
    BadRequestError (before any I/O) when the target cannot make this edit."""
    spec, target = mapped.spec, mapped.target
    facts = edit_facts(spec.id)
    if facts is None or not adapter_edits:
        why = (
            f"{spec.id} makes no edits"
            if facts is None
            else f"the {target.partition(':')[0]} adapter makes no edits"
        )
        raise _bad("model", f"{target} cannot serve an edit: {why}.", "invalid_value")
    _check_images(inputs.images, facts, spec.id)
    _check_mask(inputs, spec.id)
    warnings = list(mapped.warnings)
    if inputs.kind == "variation":
        warnings.append(variation_warning(spec.id, target, mapped.template.prompt))
    markup = inputs.markup
    if markup is not None:
        if inputs.mask is not None:
            raise _bad(
                "markup", "'markup' and 'mask' cannot be sent together; send one of them.", "invalid_value"
            )
        if not facts.markup:
            raise _bad("markup", f"{spec.id} takes no 'markup' (GPT Image 2.5 does).", "invalid_value")
    fidelity = inputs.input_fidelity
    if fidelity is not None and fidelity not in facts.fidelities:
        takes = f"takes {', '.join(repr(f) for f in facts.fidelities)}" if facts.fidelities else "takes none"
        warnings.append(
            WarningRecord(
                "option_dropped",
                "input_fidelity",
                fidelity,
                None,
                f"{spec.id} {takes} for input_fidelity; {fidelity!r} was not sent",
                model=spec.id,
                target=target,
            )
        )
        fidelity = None
    template = mapped.template.evolve(
        images=inputs.images, mask=inputs.mask, markup=markup, input_fidelity=fidelity
    )
    return dataclasses.replace(mapped, template=template, warnings=tuple(warnings))


def variation_warning(model: str, target: str, prompt: str) -> WarningRecord:
    return WarningRecord(
        "option_mapped",
        "endpoint",
        "images.create_variation",
        "images.edit",
        f"the variations endpoint was retired with dall-e-2 (2026-05-12) and has no successor; made an edit "
        f"of the image on {target} with the prompt {prompt!r} ([mapping] variation_prompt)",
        model=model,
        target=target,
    )
