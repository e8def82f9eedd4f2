/**
 * The boot screen is drawn with the Latin faces alone (a few ms to register); Thai and CJK
 * (fontconfig reads every face of the CJK collections) are registered at the first other screen,
 * after a canvas already exists, and that canvas draws them. Its own file: registration is
 * process-wide, and the other screen tests register every face up front.
 */
import { describe, expect, it } from 'vitest';
import { registerFonts } from './fonts';
import { ScreenRenderer } from './renderer';
import { SCAN_PROMPT } from './strings';

describe('fonts registered in two steps', () => {
  it('boot: Latin only; the next screen: Thai and CJK too, drawn by the canvas made before', () => {
    const renderer = new ScreenRenderer({ width: 480, height: 320 });
    const early = registerFonts(undefined, []);
    expect([...new Set(early.registered.map((r) => r.role))]).toEqual(['latin']);
    renderer.render({ kind: 'boot', message: 'Starting…' });
    expect(registerFonts(undefined, [])).toBe(early);

    renderer.render({ kind: 'message', title: SCAN_PROMPT.zh, lines: [SCAN_PROMPT.th], tone: 'info' });
    const all = registerFonts();
    expect([...new Set(all.registered.map((r) => r.role))].sort()).toEqual(['cjk', 'latin', 'thai']);
    expect(registerFonts()).toBe(all);

    // The canvas made before the faces were registered draws them: a CJK ideograph is 1 em wide,
    // where a missing glyph would be drawn as a narrower hex box.
    const ctx = renderer.canvas.getContext('2d');
    ctx.font = '64px "Noto Sans", "Noto Sans Thai", "Noto Sans CJK SC"';
    const ideograph = [...SCAN_PROMPT.zh].find((ch) => /[\u4e00-\u9fff]/.test(ch))!;
    expect(ctx.measureText(ideograph).width).toBeCloseTo(64, 1);
  });
});
