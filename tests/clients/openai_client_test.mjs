// The real `openai` npm client (the version tests/clients/package-lock.json pins) against a
// running `a4ps serve`:  node openai_client_test.mjs BASE_URL GGUF_PERSONA
// The server runs the deliberation on a scripted (fake) model that answers "Forty-two.",
// BRICK on the same script ("I build things."), and GGUF_PERSONA on a synthetic GGUF
// through llama.cpp (random weights: the checks are on shapes and counts, not meaning).
// Prints one line per check; exits 1 on the first failure.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [base, tiny] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: 'unused-on-loopback', maxRetries: 0, timeout: 120_000 });
const real = `a4ps/${tiny}`;

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    process.exit(1);
  }
}

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

await check('models.list names the deliberation and every persona', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const id of ['a4ps', 'a4ps/ALFRED', 'a4ps/BRICK', 'a4ps/ROBIN', 'a4ps/BABS', real]) assert.ok(ids.includes(id), `${id} in ${ids}`);
  const one = await client.models.retrieve('a4ps');
  assert.equal(one.id, 'a4ps');
});

await check('chat a4ps: the deliberation answers with ALFRED\'s answer', async () => {
  const r = await client.chat.completions.create({ model: 'a4ps', messages: [{ role: 'user', content: 'What is six times seven?' }] });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'a4ps');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, 'Forty-two.');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.completion_tokens > 0, JSON.stringify(r.usage));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

await check('chat a4ps streamed: chunks, usage, [DONE]', async () => {
  const chunks = await collect(await client.chat.completions.create({
    model: 'a4ps', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is six times seven?' }],
  }));
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const text = chunks.flatMap((c) => c.choices).map((c) => c.delta.content ?? '').join('');
  assert.equal(text, 'Forty-two.');
  assert.equal(chunks.flatMap((c) => c.choices).at(-1).finish_reason, 'stop');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.completion_tokens > 0);
});

await check('chat a4ps/BRICK on the scripted model, with a stop string', async () => {
  const r = await client.chat.completions.create({ model: 'a4ps/BRICK', stop: ['things'], messages: [{ role: 'user', content: 'Who are you?' }] });
  assert.equal(r.model, 'a4ps/BRICK');
  assert.equal(r.choices[0].message.content, 'I build ');
});

let whole;
await check(`chat ${real} through llama.cpp: max_tokens and usage`, async () => {
  const r = await client.chat.completions.create({ model: real, max_tokens: 8, temperature: 0, messages: [{ role: 'user', content: 'Say hello.' }] });
  whole = r.choices[0].message.content;
  assert.ok(r.usage.prompt_tokens > 0, JSON.stringify(r.usage));
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8, JSON.stringify(r.usage));
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
});

await check(`chat ${real} streamed: the same greedy text, piece by piece, with usage`, async () => {
  const chunks = await collect(await client.chat.completions.create({
    model: real, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Say hello.' }],
  }));
  const text = chunks.flatMap((c) => c.choices).map((c) => c.delta.content ?? '').join('');
  assert.equal(text, whole);
  const u = chunks.at(-1).usage;
  assert.ok(u && u.completion_tokens > 0 && u.completion_tokens <= 8, JSON.stringify(u));
});

await check(`chat ${real} with a json_schema response_format: valid JSON of that schema`, async () => {
  const r = await client.chat.completions.create({
    model: real, max_tokens: 96, temperature: 0, messages: [{ role: 'user', content: 'Is it raining?' }],
    response_format: { type: 'json_schema', json_schema: { name: 'verdict', strict: true, schema: {
      type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false } } },
  });
  const v = JSON.parse(r.choices[0].message.content);
  assert.equal(typeof v.ok, 'boolean', r.choices[0].message.content);
});

await check(`embeddings on ${real}: unit vectors, base64 (the client's default) and float`, async () => {
  const r = await client.embeddings.create({ model: real, input: ['hello world', 'a second text'] });
  assert.equal(r.data.length, 2);
  const [a, b] = r.data.map((d) => d.embedding);
  assert.ok(a.length > 8 && a.length === b.length);
  const norm = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
  assert.notDeepEqual(a, b);
  const f = await client.embeddings.create({ model: real, input: 'hello world', encoding_format: 'float' });
  assert.ok(f.data[0].embedding.every((x, i) => Math.abs(x - a[i]) < 1e-6));
});

await check('an unknown model is the client\'s NotFoundError', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && /does not exist/.test(e.message) && e.code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({ model: 'a4ps/NOBODY', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.NotFoundError);
});

await check('bad input is the client\'s BadRequestError, naming the field', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'a4ps', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages');
  await assert.rejects(client.chat.completions.create({ model: real, temperature: 'hot', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature' && e.type === 'invalid_request_error');
  await assert.rejects(client.embeddings.create({ model: 'a4ps', input: 'hi' }),
    (e) => e instanceof OpenAI.BadRequestError && /embeddings/.test(e.message));
});
