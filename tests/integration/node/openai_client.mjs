// openai_client.mjs - the official `openai` npm package, pointed at edged's
// Unix socket through undici (an Agent with connect.socketPath as the
// dispatcher of a custom fetch), runs one of everything the tests check:
// models.list(), chat (whole and streamed), completions, embeddings and an
// error answer. Prints one JSON object with what came back; the checks are
// in tests/integration/test_openai_node.py.
//
//   node openai_client.mjs SOCKET
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';

const socketPath = process.argv[2];
if (!socketPath) {
  console.error('usage: node openai_client.mjs SOCKET');
  process.exit(2);
}

const agent = new Agent({ connect: { socketPath } });
const client = new OpenAI({
  apiKey: 'edged-needs-no-key',
  baseURL: 'http://localhost/v1',
  fetch: (url, init) => undiciFetch(url, { ...init, dispatcher: agent }),
  maxRetries: 0,
  timeout: 60_000,
});

const messages = [
  { role: 'system', content: 'You are a terse assistant.' },
  { role: 'user', content: 'Name a colour.' },
];
const sampling = { temperature: 0, seed: 7, max_tokens: 12 };

const out = {};

const models = await client.models.list();
out.models = models.data;
const model = models.data[0].id;

out.chat = await client.chat.completions.create({ model, messages, ...sampling });

// Streamed: every chunk kept, the deltas joined.
const stream = await client.chat.completions.create({
  model, messages, ...sampling, stream: true, stream_options: { include_usage: true },
});
const chunks = [];
for await (const chunk of stream) chunks.push(chunk);
out.stream = {
  chunks,
  text: chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''),
  finish_reason: chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean).pop() ?? null,
};

out.completion = await client.completions.create({ model, prompt: 'Once upon a time', ...sampling });

const completionStream = await client.completions.create({
  model, prompt: 'Once upon a time', ...sampling, stream: true,
});
let completionText = '';
for await (const chunk of completionStream) completionText += chunk.choices[0]?.text ?? '';
out.completion_stream_text = completionText;

// The package asks for encoding_format "base64" unless told otherwise and
// decodes the little-endian float32 bytes itself; "float" asks for numbers.
const input = ['red', 'a red colour', 'red'];
out.embeddings = await client.embeddings.create({ model, input });
out.embeddings_float = await client.embeddings.create({ model, input, encoding_format: 'float' });

try {
  await client.chat.completions.create({ model, messages, n: 2 });
  out.error = null;
} catch (e) {
  out.error = { name: e.constructor.name, status: e.status ?? null, message: e.message,
                error: e.error ?? null };
}

// Every name models.list() gives is accepted; an unknown name is a 404 the
// package raises as NotFoundError (OpenAI's model_not_found).
out.by_name = [];
for (const m of models.data) {
  const answer = await client.completions.create({ model: m.id, prompt: 'Once', max_tokens: 2, temperature: 0 });
  out.by_name.push({ asked: m.id, model: answer.model });
}
const failure = (e) => ({ name: e.constructor.name, status: e.status ?? null, message: e.message,
                          code: e.code ?? null, param: e.param ?? null, type: e.type ?? null });
out.unknown = {};
for (const [key, call] of [
  ['chat', () => client.chat.completions.create({ model: 'gpt-4o', messages })],
  ['embeddings', () => client.embeddings.create({ model: 'text-embedding-3-small', input: 'red' })],
]) {
  try {
    await call();
    out.unknown[key] = null;
  } catch (e) {
    out.unknown[key] = failure(e);
  }
}

process.stdout.write(JSON.stringify(out) + '\n');
await agent.close();
