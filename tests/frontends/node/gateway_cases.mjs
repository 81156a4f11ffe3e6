// The openai npm package against a running `imageshim serve` (see tests/frontends/test_gateway_node.py).
//
//   node gateway_cases.mjs CASE BASE_URL API_KEY
//
// CASE is url | b64 | stream | bad-request | auth. BASE_URL ends in /v1. Prints exactly one JSON line on
// stdout (the facts the Python test asserts on); any unexpected failure is a stack trace on stderr and exit
// status 1. Every HTTP request the SDK makes goes through a counting fetch, so retries are visible.
import OpenAI from "openai";
import { VERSION as sdkVersion } from "openai/version";

const [kase, baseURL, apiKey] = process.argv.slice(2);
const PNG_MAGIC = "89504e470d0a1a0a";

/** A fetch that records every request the SDK makes (method, url, status, x-should-retry). */
function countingFetch() {
  const calls = [];
  const wrapped = async (url, init) => {
    const call = { method: init?.method ?? "GET", url: String(url) };
    calls.push(call);
    const response = await fetch(url, init);
    call.status = response.status;
    call.should_retry = response.headers.get("x-should-retry");
    return response;
  };
  return { calls, fetch: wrapped };
}

/** Magic bytes and the IHDR width/height of a PNG (or nulls when the bytes are not one). */
function png(bytes) {
  const buf = Buffer.from(bytes);
  const magic = buf.subarray(0, 8).toString("hex");
  const isPng = magic === PNG_MAGIC && buf.length >= 24 && buf.subarray(12, 16).toString("latin1") === "IHDR";
  return {
    magic,
    is_png: isPng,
    width: isPng ? buf.readUInt32BE(16) : null,
    height: isPng ? buf.readUInt32BE(20) : null,
    bytes: buf.length,
  };
}

function client(counter, key = apiKey) {
  // maxRetries is the SDK default (2), on purpose: the tests check the gateway's errors are not retried.
  return new OpenAI({ apiKey: key, baseURL, fetch: counter.fetch, timeout: 30_000 });
}

function describeError(err) {
  return {
    class: err?.constructor?.name ?? null,
    is_api_error: err instanceof OpenAI.APIError,
    is_bad_request: err instanceof OpenAI.BadRequestError,
    is_authentication: err instanceof OpenAI.AuthenticationError,
    status: err?.status ?? null,
    message: err?.message ?? String(err),
    code: err?.code ?? null,
    param: err?.param ?? null,
    type: err?.type ?? null,
  };
}

const DALL_E_3 = { model: "dall-e-3", prompt: "a lighthouse at dusk", quality: "hd", style: "vivid" };

const cases = {
  async url() {
    const counter = countingFetch();
    const resp = await client(counter).images.generate({ ...DALL_E_3, size: "1792x1024", response_format: "url" });
    const url = resp.data[0].url;
    const image = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    return {
      url,
      size: resp.size,
      quality: resp.quality,
      image_status: image.status,
      content_type: image.headers.get("content-type"),
      png: png(await image.arrayBuffer()),
      has_b64: resp.data[0].b64_json != null,
      calls: counter.calls,
    };
  },

  async b64() {
    const counter = countingFetch();
    const resp = await client(counter).images.generate({
      ...DALL_E_3,
      size: "1024x1792",
      response_format: "b64_json",
    });
    return {
      size: resp.size,
      has_url: resp.data[0].url != null,
      png: png(Buffer.from(resp.data[0].b64_json, "base64")),
      calls: counter.calls,
    };
  },

  async stream() {
    const counter = countingFetch();
    const stream = await client(counter).images.generate({
      model: "gpt-image-2",
      prompt: "a lighthouse at dusk",
      size: "1536x1024",
      stream: true,
    });
    const events = [];
    for await (const event of stream) {
      const seen = { type: event.type, size: event.size ?? null, output_format: event.output_format ?? null };
      if (event.b64_json != null) seen.png = png(Buffer.from(event.b64_json, "base64"));
      events.push(seen);
    }
    return { stream_class: stream.constructor.name, events, calls: counter.calls };
  },

  async "bad-request"() {
    const counter = countingFetch();
    try {
      const resp = await client(counter).images.generate({ ...DALL_E_3, size: "1792-by-1024" });
      return { thrown: null, size: resp.size, calls: counter.calls };
    } catch (err) {
      return { thrown: describeError(err), calls: counter.calls };
    }
  },

  async auth() {
    const wrong = countingFetch();
    let thrown = null;
    try {
      await client(wrong, "sk-wrong-0000000000000000").images.generate({ model: "gpt-image-2", prompt: "x" });
    } catch (err) {
      thrown = describeError(err);
    }
    const right = countingFetch();
    const resp = await client(right).images.generate({ model: "gpt-image-2", prompt: "x", size: "1024x1024" });
    return {
      thrown,
      wrong_calls: wrong.calls,
      right: { size: resp.size, png: png(Buffer.from(resp.data[0].b64_json, "base64")), calls: right.calls },
    };
  },
};

if (!(kase in cases)) {
  console.error(`unknown case ${JSON.stringify(kase)}; one of ${Object.keys(cases).join(", ")}`);
  process.exit(2);
}
const result = await cases[kase]();
console.log(JSON.stringify({ case: kase, sdk: sdkVersion, node: process.version, ...result }));
