/**
 * The wallets a customer can pay with at an Alipay+ merchant-presented QR (MPM) through Omise:
 * the Alipay+ partner wallet list as shown by Omise's docs ("Merchant-Presented Mode (C scan B)",
 * docs.opn.ooo/alipayplus-mpm, "Supported Wallets" table by merchant country). Names only:
 * wallet logos are the wallets' trademarks, used under terms this project has not agreed to.
 *
 * When Omise's table changes, change this one table; the QR screen lists what it holds.
 */
import type { Country } from './money';

interface Wallet {
  /** The brand name customers know, as the wallet writes it. */
  readonly name: string;
  /** Merchant countries where Omise's table marks it as supported. */
  readonly countries: readonly Country[];
}

const WALLETS: readonly Wallet[] = [
  { name: 'Alipay', countries: ['TH', 'SG'] },
  { name: 'AlipayHK', countries: ['TH', 'SG', 'MY'] },
  { name: 'Kakao Pay', countries: ['TH', 'SG', 'MY'] },
  { name: 'GCash', countries: ['TH', 'SG'] },
  { name: "Touch 'n Go eWallet", countries: ['TH', 'SG'] },
  { name: 'TrueMoney', countries: ['TH', 'SG'] },
];

/** Names of the wallets that can pay a merchant in `country`, in the table's order. */
export function walletsFor(country: Country): string[] {
  return WALLETS.filter((w) => w.countries.includes(country)).map((w) => w.name);
}
