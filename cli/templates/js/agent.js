// {{name}}: a djinn agent in JavaScript. Handles `{{name}}` and replies on `{{name}}.reply`.
//
// Build: ./build.sh  (componentize-js) -> {{name}}.wasm
// Records use camelCase fields; variants are {tag, val}; enums are strings.
// Each call runs in a fresh instance: module state does not survive between calls.
import { get as configGet } from 'djinn:plugin/config@0.1.0';
import { log } from 'djinn:plugin/log@0.1.0';

export const agent = {
  info() {
    // `id` must equal the manifest's id.
    return {
      id: '{{name}}',
      name: '{{name}}',
      version: '0.1.0',
      capabilities: [],
      subscribes: ['{{name}}'],
      risk: 'low',
    };
  },

  handle(msg) {
    let value;
    try {
      value = JSON.parse(msg.payload);
    } catch (e) {
      // Thrown variants become the plugin-error result.
      throw { tag: 'invalid-input', val: `payload is not JSON: ${e.message}` };
    }
    log('debug', `handling ${msg.topic}`);
    const reply = { received: value, greeting: configGet('greeting') ?? null };
    // The host fills in `id` and `sender`; keep the correlation id and metadata.
    return [
      {
        id: '',
        correlationId: msg.correlationId,
        topic: '{{name}}.reply',
        sender: '',
        recipient: undefined,
        payload: JSON.stringify(reply),
        metadata: msg.metadata,
      },
    ];
  },
};
