/** Which layout draws which screen kind. */
import type { ScreenModel } from './model';
import { bootScreen, errorScreen, fatalScreen, menuScreen, messageScreen, pairingScreen, pinScreen } from './layout-admin';
import { creatingScreen, entryScreen, idleScreen, methodsScreen, offlineScreen, qrScreen, resultScreen } from './layout-sale';
import type { LayoutContext, Screen } from './region';

export function layoutScreen(ctx: LayoutContext, m: ScreenModel): Screen {
  switch (m.kind) {
    case 'boot':
      return bootScreen(ctx, m);
    case 'idle':
      return idleScreen(ctx, m);
    case 'entry':
      return entryScreen(ctx, m);
    case 'methods':
      return methodsScreen(ctx, m);
    case 'creating':
      return creatingScreen(ctx, m);
    case 'qr':
      return qrScreen(ctx, m);
    case 'result':
      return resultScreen(ctx, m);
    case 'offline':
      return offlineScreen(ctx, m);
    case 'pairing':
      return pairingScreen(ctx, m);
    case 'error':
      return errorScreen(ctx, m);
    case 'fatal':
      return fatalScreen(ctx, m);
    case 'pin':
      return pinScreen(ctx, m);
    case 'menu':
      return menuScreen(ctx, m);
    case 'message':
      return messageScreen(ctx, m);
  }
}
