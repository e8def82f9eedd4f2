/**
 * The payment methods qrpos creates charges with (Omise source types). Today one: Alipay+
 * merchant-presented QR. The relay's sales table has no method column yet, so every sale is
 * this method in reports; a second method adds its type here and a method column to the sale.
 */
export const PAYMENT_METHODS = ['alipayplus_mpm'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** The method of a sale stored without one. */
export const DEFAULT_METHOD: PaymentMethod = 'alipayplus_mpm';
