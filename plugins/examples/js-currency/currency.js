// js-currency: a djinn agent written in JavaScript (componentize-js).
//
// `currency.convert` {"amount": 12.5, "from": "USD", "to": "INR"}
//   -> `currency.converted` {"amount": 12.5, "from": "USD", "to": "INR",
//                            "rate": 83.1, "converted": 1038.75}
// Rates come from the manifest's [config]: `base` (a currency code) and `rates`
// ("EUR=0.92,INR=83.1": units of each currency per 1 `base`).
//
// Build: ./build.sh  (componentize-js against ../../../wit, world `agent-plugin`,
// with `-d http fetch-event`: djinn does not offer outbound HTTP).
import { get as configGet } from 'djinn:plugin/config@0.1.0';
import { log } from 'djinn:plugin/log@0.1.0';

function invalid(text) {
  return { tag: 'invalid-input', val: text };
}

function loadRates() {
  const base = (configGet('base') || 'USD').trim().toUpperCase();
  const rates = { [base]: 1 };
  for (const part of (configGet('rates') || '').split(',')) {
    if (!part.trim()) continue;
    const [code, value] = part.split('=').map((s) => s.trim());
    const rate = Number(value);
    if (!code || !Number.isFinite(rate) || rate <= 0) {
      throw { tag: 'failed', val: `bad rate in config: \`${part.trim()}\`` };
    }
    rates[code.toUpperCase()] = rate;
  }
  return rates;
}

function convert(input, rates) {
  if (input === null || typeof input !== 'object') throw invalid('payload must be an object');
  const amount = typeof input.amount === 'string' ? Number(input.amount) : input.amount;
  if (typeof amount !== 'number' || !Number.isFinite(amount)) {
    throw invalid('`amount` must be a number');
  }
  const from = String(input.from || '').toUpperCase();
  const to = String(input.to || '').toUpperCase();
  for (const code of [from, to]) {
    if (!(code in rates)) {
      throw invalid(`unknown currency \`${code}\`; known: ${Object.keys(rates).sort().join(', ')}`);
    }
  }
  const rate = rates[to] / rates[from];
  const converted = Math.round(amount * rate * 100) / 100;
  return { amount, from, to, rate: Math.round(rate * 1e6) / 1e6, converted };
}

export const agent = {
  info() {
    return {
      id: 'js-currency',
      name: 'Currency converter (JavaScript)',
      version: '0.1.0',
      capabilities: ['currency'],
      subscribes: ['currency.convert'],
      risk: 'low',
    };
  },

  handle(msg) {
    let input;
    try {
      input = JSON.parse(msg.payload);
    } catch (e) {
      throw invalid(`payload is not JSON: ${e.message}`);
    }
    const rates = loadRates();
    const result = convert(input, rates);
    log('debug', `converted ${result.amount} ${result.from} to ${result.to}`);
    return [
      {
        id: '',
        correlationId: msg.correlationId,
        topic: 'currency.converted',
        sender: '',
        recipient: undefined,
        payload: JSON.stringify(result),
        metadata: msg.metadata,
      },
    ];
  },
};
