/** Wraps an OmiseApi so every call's latency and failures land in the relay's metrics. */
import { OmiseError, type OmiseApi } from '../omise/api';
import type { RelayMetrics } from './metrics';

export function meteredOmise(api: OmiseApi, metrics: RelayMetrics): OmiseApi {
  const wrap =
    <A extends unknown[], R>(op: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = performance.now();
      try {
        return await fn(...args);
      } catch (err) {
        metrics.omiseErrors.inc({ op, kind: err instanceof OmiseError ? err.kind : 'other' });
        throw err;
      } finally {
        metrics.omiseLatency.observe((performance.now() - started) / 1000, { op });
      }
    };
  return {
    createSource: wrap('create_source', api.createSource.bind(api)),
    createCharge: wrap('create_charge', api.createCharge.bind(api)),
    retrieveCharge: wrap('retrieve_charge', api.retrieveCharge.bind(api)),
    listCharges: wrap('list_charges', api.listCharges.bind(api)),
    expireCharge: wrap('expire_charge', api.expireCharge.bind(api)),
    createRefund: wrap('create_refund', api.createRefund.bind(api)),
    listRefunds: wrap('list_refunds', api.listRefunds.bind(api)),
    listEvents: wrap('list_events', api.listEvents.bind(api)),
    retrieveEvent: wrap('retrieve_event', api.retrieveEvent.bind(api)),
    markAsPaid: wrap('mark_as_paid', api.markAsPaid.bind(api)),
    markAsFailed: wrap('mark_as_failed', api.markAsFailed.bind(api)),
    downloadDocument: wrap('download_document', api.downloadDocument.bind(api)),
  };
}
