// Runs a SuiteScript 2.1 user-event script under Node.js with the N/ modules
// it uses stubbed by their documented behaviour: N/crypto's HMAC is Node's,
// keyed with the API secret's value; N/https.post records the request instead
// of sending it. Prints the recorded requests as JSON lines.
//
// usage: node suitescript_harness.js <script.js> <secret value> <context.json>
// context.json: {"type": "edit", "newRecord": {...}, "oldRecord": {...}|null,
//                "lookups": {"salesorder:<id>": {...}}, "params": {...}, "accountId": "..."}
'use strict';
const fs = require('fs');
const nodeCrypto = require('crypto');
const vm = require('vm');

const [scriptPath, secretValue, contextPath] = process.argv.slice(2);
const input = JSON.parse(fs.readFileSync(contextPath, 'utf8'));
const requests = [];

const record = (data) =>
  data && {
    type: data.type,
    id: data.id,
    getValue: ({ fieldId }) =>
      fieldId === 'lastmodifieddate' && data.fields[fieldId] ? new Date(data.fields[fieldId]) : data.fields[fieldId],
    getText: ({ fieldId }) => (data.texts || {})[fieldId],
    getLineCount: ({ sublistId }) => {
      const lines = (data.sublists || {})[sublistId];
      if (!lines) throw new Error(`SSS_INVALID_SUBLIST_OPERATION ${sublistId}`);
      return lines.length;
    },
    getSublistValue: ({ sublistId, fieldId, line }) => data.sublists[sublistId][line][fieldId],
  };

const modules = {
  'N/https': {
    post: ({ url, body, headers }) => {
      requests.push({ url, body, headers });
      return { code: 200, body: '{}' };
    },
  },
  'N/encode': { Encoding: { UTF_8: 'UTF_8', HEX: 'HEX', BASE_64: 'BASE_64' } },
  'N/crypto': {
    HashAlg: { SHA256: 'sha256' },
    createSecretKey: ({ secret, encoding }) => {
      if (secret !== input.params.custscript_crmerp_secret_id || encoding !== 'UTF_8') {
        throw new Error(`unknown secret ${secret}`);
      }
      return { value: secretValue };
    },
    createHmac: ({ algorithm, key }) => {
      const mac = nodeCrypto.createHmac(algorithm, key.value);
      return {
        update: ({ input: data, inputEncoding }) => {
          if (inputEncoding !== 'UTF_8') throw new Error('only UTF_8 input is stubbed');
          mac.update(data, 'utf8');
        },
        digest: ({ outputEncoding }) => {
          if (outputEncoding !== 'HEX') throw new Error('only HEX output is stubbed');
          return mac.digest('hex').toUpperCase(); // NetSuite answers upper-case hex.
        },
      };
    },
  },
  'N/runtime': {
    accountId: input.accountId,
    getCurrentScript: () => ({ getParameter: ({ name }) => input.params[name] }),
  },
  'N/search': {
    Type: { SALES_ORDER: 'salesorder' },
    lookupFields: ({ type, id }) => input.lookups[`${type}:${id}`],
  },
  'N/log': {
    error: (entry) => console.error('log.error', JSON.stringify(entry)),
    audit: (entry) => console.error('log.audit', JSON.stringify(entry)),
  },
};

let entryPoints;
const define = (deps, factory) => {
  entryPoints = factory(...deps.map((name) => modules[name]));
};
vm.runInNewContext(fs.readFileSync(scriptPath, 'utf8'), { define, Date, JSON, Math, String, Object, Array, Error, console });
entryPoints.afterSubmit({
  type: input.type,
  UserEventType: { CREATE: 'create', EDIT: 'edit', DELETE: 'delete', SHIP: 'ship' },
  newRecord: record(input.newRecord),
  oldRecord: record(input.oldRecord),
});
requests.forEach((r) => console.log(JSON.stringify(r)));
