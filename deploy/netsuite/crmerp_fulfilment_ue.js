/**
 * crmerp fulfilment notifier: posts status changes of sales orders and item
 * fulfilments to crmerp ingress (POST <ingress>/webhooks/netsuite), signed
 * with a shared secret held in a NetSuite API secret.
 *
 * Signature: X-Crmerp-Timestamp = Unix seconds; X-Crmerp-Signature = lowercase
 * hex HMAC-SHA256 of "<timestamp>.<body>". Ingress refuses timestamps outside
 * its replay window (5 minutes by default), so the account's clock must be
 * right, and it de-duplicates re-sends by the body's eventId.
 *
 * Install: docs/fulfilment-ingress.md ("NetSuite").
 *
 * @NApiVersion 2.1
 * @NScriptType UserEventScript
 * @NModuleScope SameAccount
 */
define(['N/https', 'N/crypto', 'N/encode', 'N/runtime', 'N/search', 'N/log'], (
  https,
  crypto,
  encode,
  runtime,
  search,
  log,
) => {
  /** Script parameter: the ingress URL, e.g. https://ingress.example.com/webhooks/netsuite */
  const PARAM_URL = 'custscript_crmerp_ingress_url';
  /** Script parameter: the script id of the API secret, e.g. custsecret_crmerp_ingress */
  const PARAM_SECRET = 'custscript_crmerp_secret_id';
  /** Attempts for a 429 or 5xx answer (or no answer); other answers are final. */
  const ATTEMPTS = 3;

  /** The carrier package sublists and their tracking number fields. */
  const PACKAGE_SUBLISTS = [
    ['package', 'packagetrackingnumber'],
    ['packageups', 'packagetrackingnumberups'],
    ['packagefedex', 'packagetrackingnumberfedex'],
    ['packageusps', 'packagetrackingnumberusps'],
  ];

  const text = (value) => (value === null || value === undefined ? '' : String(value));

  const trackingNumbers = (record) => {
    const numbers = [];
    PACKAGE_SUBLISTS.forEach(([sublistId, fieldId]) => {
      let count = 0;
      try {
        count = record.getLineCount({ sublistId });
      } catch (e) {
        return; // The sublist does not exist for this carrier integration.
      }
      for (let line = 0; line < count; line += 1) {
        const number = text(record.getSublistValue({ sublistId, fieldId, line })).trim();
        if (number && numbers.indexOf(number) < 0) numbers.push(number);
      }
    });
    return numbers;
  };

  /** What changed that ingress cares about; null when nothing did. */
  const payloadOf = (context) => {
    const record = context.newRecord;
    const old = context.oldRecord;
    const modified = record.getValue({ fieldId: 'lastmodifieddate' });
    const changedAt = modified instanceof Date ? modified : new Date();
    const base = {
      account: runtime.accountId,
      eventType: context.type,
      recordType: record.type,
      changedAt: changedAt.toISOString(),
    };
    if (record.type === 'salesorder') {
      const status = text(record.getValue({ fieldId: 'orderstatus' }));
      if (old && text(old.getValue({ fieldId: 'orderstatus' })) === status) return null;
      return Object.assign(base, {
        eventId: `salesorder:${record.id}:${status}:${changedAt.getTime()}`,
        salesOrder: {
          id: text(record.id),
          tranId: text(record.getValue({ fieldId: 'tranid' })),
          externalId: text(record.getValue({ fieldId: 'externalid' })),
          status,
        },
      });
    }
    if (record.type === 'itemfulfillment') {
      const shipStatus = text(record.getValue({ fieldId: 'shipstatus' }));
      const numbers = trackingNumbers(record);
      if (
        old &&
        text(old.getValue({ fieldId: 'shipstatus' })) === shipStatus &&
        trackingNumbers(old).join(',') === numbers.join(',')
      ) {
        return null;
      }
      const orderId = text(record.getValue({ fieldId: 'createdfrom' }));
      if (!orderId) return null; // Not fulfilling a sales order (e.g. a transfer order).
      const order = search.lookupFields({
        type: search.Type.SALES_ORDER,
        id: orderId,
        columns: ['tranid', 'externalid'],
      });
      const externalId = Array.isArray(order.externalid)
        ? text(order.externalid[0] && order.externalid[0].value)
        : text(order.externalid);
      return Object.assign(base, {
        eventId: `itemfulfillment:${record.id}:${shipStatus}:${changedAt.getTime()}`,
        salesOrder: { id: orderId, tranId: text(order.tranid), externalId },
        fulfillment: {
          id: text(record.id),
          tranId: text(record.getValue({ fieldId: 'tranid' })),
          shipStatus,
          carrier: text(record.getText({ fieldId: 'shipmethod' })),
          trackingNumbers: numbers,
        },
      });
    }
    return null;
  };

  const sign = (secretId, timestamp, body) => {
    const key = crypto.createSecretKey({ secret: secretId, encoding: encode.Encoding.UTF_8 });
    const hmac = crypto.createHmac({ algorithm: crypto.HashAlg.SHA256, key });
    hmac.update({ input: `${timestamp}.${body}`, inputEncoding: encode.Encoding.UTF_8 });
    return hmac.digest({ outputEncoding: encode.Encoding.HEX }).toLowerCase();
  };

  const afterSubmit = (context) => {
    if (context.type === context.UserEventType.DELETE) return;
    const script = runtime.getCurrentScript();
    const url = script.getParameter({ name: PARAM_URL });
    const secretId = script.getParameter({ name: PARAM_SECRET });
    if (!url || !secretId) {
      log.error({ title: 'crmerp', details: `Set ${PARAM_URL} and ${PARAM_SECRET} on the deployment.` });
      return;
    }
    let payload;
    try {
      payload = payloadOf(context);
    } catch (e) {
      log.error({ title: 'crmerp: cannot read the record', details: e });
      return;
    }
    if (!payload) return;
    const body = JSON.stringify(payload);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      // A fresh timestamp per attempt; the body (and its eventId) stays the same.
      const timestamp = String(Math.floor(Date.now() / 1000));
      let code = 0;
      try {
        const response = https.post({
          url,
          body,
          headers: {
            'Content-Type': 'application/json',
            'X-Crmerp-Timestamp': timestamp,
            'X-Crmerp-Signature': sign(secretId, timestamp, body),
          },
        });
        code = response.code;
        if (code >= 200 && code < 300) return;
        if (code !== 429 && code < 500) {
          log.error({ title: `crmerp: ingress refused ${payload.eventId}`, details: `${code} ${response.body}` });
          return;
        }
      } catch (e) {
        log.audit({ title: `crmerp: attempt ${attempt} failed`, details: e });
      }
      log.audit({ title: `crmerp: attempt ${attempt} answered ${code}`, details: payload.eventId });
    }
    log.error({ title: `crmerp: gave up on ${payload.eventId}`, details: 'The save itself succeeded.' });
  };

  return { afterSubmit };
});
