// {{name}}: a djinn policy in JavaScript. Denies messages whose payload contains `forbidden`.
//
// Build: ./build.sh  (componentize-js) -> {{name}}.wasm
export const policy = {
  info() {
    // `id` must equal the manifest's id.
    return { id: '{{name}}', name: '{{name}}', version: '0.1.0' };
  },

  evaluate(msg, ctx) {
    if (msg.payload.includes('forbidden')) {
      return { tag: 'deny', val: `\`${msg.topic}\` contains a forbidden word` };
    }
    return { tag: 'allow' };
  },
};
