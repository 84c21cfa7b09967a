// The report page's planner: each law's compute-optimal params, tokens and loss for the chosen
// budget, with percentile intervals over a fit's bootstrap draws, and the cost on the chosen GPUs.
// The forms are those of scaling.laws (references beside each); every constant comes from the
// page's embedded data (scaling.report.planner), never from this file.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("planner-data").textContent);
  const K = DATA.constants;

  // Hoffmann et al. 2022 (Chinchilla), Eq. 4: G = (alpha A / (beta B))^(1/(alpha+beta)).
  function chinchillaG(c) {
    return Math.pow(c.alpha * c.A / (c.beta * c.B), 1 / (c.alpha + c.beta));
  }

  // Muennighoff et al. 2023, Eq. 5-7 with unlimited data (U >= D: D' = D, nothing repeats);
  // scaling.laws.datablations.DataConstrainedLaw.predict without unique_tokens.
  function dataConstrainedLoss(c, N, D) {
    const G = chinchillaG(c);
    const usefulParams = Math.min(N, G * Math.pow(D * G, c.beta / c.alpha));
    const excess = Math.max(N / usefulParams - 1, 0);
    const effectiveParams = usefulParams + usefulParams * c.R_N_star * (1 - Math.exp(-excess / c.R_N_star));
    return c.E + c.A / Math.pow(effectiveParams, c.alpha) + c.B / Math.pow(D, c.beta);
  }

  // argmin of f over [low, high]: a grid locates the basin, golden-section search shrinks the
  // bracket (scaling.laws.datablations.minimize_log; a flat minimum pins x to about 1e-8).
  function minimizeLog(f, low, high) {
    const n = 97;
    let best = 0, bestValue = Infinity;
    const xs = [];
    for (let i = 0; i < n; i++) {
      xs.push(low + (high - low) * i / (n - 1));
      const value = f(xs[i]);
      if (value < bestValue) { bestValue = value; best = i; }
    }
    let left = xs[Math.max(best - 1, 0)], right = xs[Math.min(best + 1, n - 1)];
    const ratio = (Math.sqrt(5) - 1) / 2;
    for (let i = 0; i < 80; i++) {
      const innerLeft = right - ratio * (right - left), innerRight = left + ratio * (right - left);
      if (f(innerLeft) <= f(innerRight)) right = innerRight; else left = innerLeft;
    }
    return (left + right) / 2;
  }

  const FORMS = {
    chinchilla: {
      // Hoffmann et al. 2022, Eq. 4: N_opt = G (C/6)^a, D_opt = (C/6)^b / G.
      optimal(c, C) {
        const a = c.beta / (c.alpha + c.beta), b = c.alpha / (c.alpha + c.beta), G = chinchillaG(c);
        return [G * Math.pow(C / 6, a), Math.pow(C / 6, b) / G];
      },
      // Hoffmann et al. 2022, Eq. 2: L = E + A / N^alpha + B / D^beta.
      predict(c, N, D) { return c.E + c.A / Math.pow(N, c.alpha) + c.B / Math.pow(D, c.beta); },
    },
    kaplan_nd: {
      // Minimum of Kaplan et al. 2020, Eq. 1.5 on C = 6 N D: N = (p N_c^p C / (6 D_c))^(1/(1+p)).
      optimal(c, C) {
        const p = c.alpha_N / c.alpha_D;
        const N = Math.pow(p * Math.pow(c.N_c, p) * C / (6 * c.D_c), 1 / (1 + p));
        return [N, C / (6 * N)];
      },
      // Kaplan et al. 2020, Eq. 1.5: L = ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D.
      predict(c, N, D) { return Math.pow(Math.pow(c.N_c / N, c.alpha_N / c.alpha_D) + c.D_c / D, c.alpha_D); },
    },
    power_allocation: {
      // N_opt = k C^a, D_opt = C / (6 N_opt) (Hoffmann et al. 2022, Tables 3 and A3).
      optimal(c, C) { const N = c.k * Math.pow(C, c.a); return [N, C / (6 * N)]; },
    },
    tokens_per_param: {
      // D = r N on C = 6 N D: N = sqrt(C / (6 r)).
      optimal(c, C) { const N = Math.sqrt(C / (6 * c.r)); return [N, c.r * N]; },
    },
    kaplan_allocation: {
      // Kaplan et al. 2020, Table 6: N = N_e C_min^p_N, D = D_e C_min^p_D, C_min in PF-days.
      optimal(c, C) {
        const days = C / K.pf_day;
        return [c.N_e * Math.pow(days, c.p_N), c.D_e * Math.pow(days, c.p_D)];
      },
    },
    data_constrained: {
      // Muennighoff et al. 2023, Sec. 3.2: minimise L(N, C / (6N)) over log N, numerically.
      optimal(c, C) {
        const center = 0.5 * Math.log(C / 6), half = K.search_half_width;
        const logN = minimizeLog((x) => dataConstrainedLoss(c, Math.exp(x), C / (6 * Math.exp(x))),
                                 center - half, center + half);
        const N = Math.exp(logN);
        return [N, C / (6 * N)];
      },
      predict: dataConstrainedLoss,
    },
  };

  // Percentile of `values` as numpy's nanpercentile (linear method): NaN dropped, +inf held at
  // the largest double while interpolating and restored (scaling.fit.result.interval_rows).
  function percentile(values, q) {
    const big = Number.MAX_VALUE;
    const v = values.filter((x) => !Number.isNaN(x)).map((x) => (x === Infinity ? big : x)).sort((a, b) => a - b);
    if (!v.length) return NaN;
    const position = q / 100 * (v.length - 1), lo = Math.floor(position), hi = Math.min(lo + 1, v.length - 1);
    const t = position - lo, step = v[hi] - v[lo];
    const value = t < 0.5 ? v[lo] + step * t : v[hi] - step * (1 - t);
    return value >= big / 2 ? Infinity : value;
  }

  // Intervals over the bootstrap draws (scaling.fit.result.FitResult.optimal_interval).
  function intervals(law, C) {
    const form = FORMS[law.form], names = Object.keys(law.draws), count = law.draws[names[0]].length;
    const params = [], tokens = [], losses = [];
    for (let k = 0; k < count; k++) {
      const c = {};
      for (const name of names) c[name] = law.draws[name][k];
      const [N, D] = form.optimal(c, C / law.budget_factor);
      params.push(N); tokens.push(D);
      if (law.predicts_loss) {
        const valid = Number.isFinite(N) && Number.isFinite(D) && N > 0 && D > 0;
        losses.push(valid ? form.predict(c, N, D) : Infinity);
      }
    }
    const lo = 50 * (1 - law.level), hi = 50 * (1 + law.level);
    const span = (values) => [percentile(values, lo), percentile(values, hi)];
    return { params: span(params), tokens: span(tokens), loss: law.predicts_loss ? span(losses) : null };
  }

  // One law's plan at budget C on `hardware` (scaling.planning.optimal.plan and scaling.hardware.Hardware).
  function planOne(law, C, hardware) {
    const form = FORMS[law.form];
    const [N, D] = form.optimal(law.coefficients, C / law.budget_factor);
    const gpuHours = C / (K.gpu_peak_flops[hardware.gpu] * hardware.mfu) / K.seconds_per_hour;
    return {
      params: N, tokens: D, tokensPerParam: D / N,
      loss: law.predicts_loss ? form.predict(law.coefficients, N, D) : null,
      spans: law.draws ? intervals(law, C) : null,
      gpuHours, days: gpuHours / hardware.gpus / K.hours_per_day,
      dollars: hardware.price > 0 ? gpuHours * hardware.price : null,
    };
  }

  // Numbers as the CLI prints them: `digits` significant figures, trailing zeros dropped.
  function sig(x, digits) {
    if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : (x > 0 ? "inf" : "-inf");
    let [mantissa, exponent] = x.toPrecision(digits).split("e");
    if (mantissa.includes(".")) mantissa = mantissa.replace(/0+$/, "").replace(/\.$/, "");
    return exponent === undefined ? mantissa : mantissa + "e" + exponent;
  }
  // Decimals that print `x` to `digits` significant figures (2.304: 3); its interval takes the same.
  function decimalsFor(x, digits) {
    return Number.isFinite(x) && x !== 0 ? Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x)))) : 0;
  }
  function si(x) {  // scaling.cli.render.si: 1.82B, 91.4B, 3.05M; rounded before the suffix is chosen
    const rounded = Number(x.toPrecision(3));
    if (!Number.isFinite(x) || Math.abs(rounded) >= 1e15) return sig(x, 3);
    for (const [scale, suffix] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
      if (Math.abs(rounded) >= scale) return sig(rounded / scale, 3) + suffix;
    }
    return sig(x, 3);
  }

  const $ = (id) => document.getElementById(id);
  const slider = $("budget-slider"), flopsInput = $("budget-flops"), hoursInput = $("budget-gpu-hours");
  const gpuSelect = $("gpu"), gpusInput = $("gpus"), mfuInput = $("mfu"), priceInput = $("price");
  const budgetOut = $("budget");
  const [lowFlops, highFlops] = DATA.flops_range;
  slider.min = Math.log10(lowFlops); slider.max = Math.log10(highFlops); slider.step = 0.01;
  for (const gpu of Object.keys(K.gpu_peak_flops)) gpuSelect.add(new Option(gpu, gpu));
  gpuSelect.value = "h100" in K.gpu_peak_flops ? "h100" : Object.keys(K.gpu_peak_flops)[0];
  mfuInput.value = K.default_mfu;
  $("flops-range").textContent = sig(lowFlops, 3) + " to " + sig(highFlops, 3) + " FLOPs";

  // A typed number: the text as JavaScript reads a number (1e22, 2.5e4), or NaN for anything else
  // (an empty box, "abc", "1e22x"); never a silent default.
  function typed(input) { const text = input.value.trim(); return text === "" ? NaN : Number(text); }

  // What is wrong with the inputs, one sentence each, shown above the table; [] when nothing is.
  const errors = [];
  function refuse(input, message) { input.classList.add("bad"); errors.push(message); }

  function hardware() {
    const mfu = typed(mfuInput), gpus = typed(gpusInput), price = typed(priceInput);
    for (const input of [mfuInput, gpusInput, priceInput]) input.classList.remove("bad");
    if (!(mfu > 0 && mfu <= 1)) refuse(mfuInput, "MFU must be a number in (0, 1], got '" + mfuInput.value + "'.");
    if (!(Number.isInteger(gpus) && gpus >= 1)) refuse(gpusInput, "GPUs must be a whole number >= 1, got '" + gpusInput.value + "'.");
    if (priceInput.value.trim() !== "" && !(price >= 0 && Number.isFinite(price))) {
      refuse(priceInput, "$ per GPU-hour must be a number >= 0, got '" + priceInput.value + "'.");
    }
    const valid = mfu > 0 && mfu <= 1 && Number.isInteger(gpus) && gpus >= 1;
    return valid ? { gpu: gpuSelect.value, gpus, mfu, price: price > 0 ? price : 0 } : null;
  }
  function flopsPerGpuHour(hw) { return K.gpu_peak_flops[hw.gpu] * hw.mfu * K.seconds_per_hour; }

  const tbody = document.querySelector("#plans tbody");
  const rows = DATA.laws.map((law, index) => {
    const row = tbody.insertRow();
    row.dataset.label = law.label;
    const cells = ["label", "params", "convention", "tokens", "tokens-per-param", "loss", "gpu-hours", "days", "dollars"];
    for (const name of cells) {
      const cell = row.insertCell();
      cell.className = name;
    }
    row.cells[0].textContent = law.label;
    row.cells[2].textContent = law.params_convention;
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = true; box.id = "pick-" + index; box.dataset.label = law.label;
    const label = document.createElement("label");
    label.htmlFor = box.id; label.textContent = law.label + (law.draws ? " (fit, " + Math.round(100 * law.level) + "% intervals)" : "");
    const item = document.createElement("span");
    item.className = "pick"; item.append(box, label);
    $("law-picker").append(item);
    box.addEventListener("change", () => { row.hidden = !box.checked; });
    return { law, row };
  });

  function show(cell, value, text, span, spanText, level) {
    cell.replaceChildren();
    const main = document.createElement("span");
    main.className = "value"; main.textContent = text;
    if (value !== null) main.dataset.value = String(value);
    cell.append(main);
    if (span) {
      const low = document.createElement("span"), high = document.createElement("span");
      low.className = "low"; high.className = "high";
      low.textContent = spanText(span[0]); high.textContent = spanText(span[1]);
      const interval = document.createElement("div");
      interval.className = "interval";
      interval.append(Math.round(100 * level) + "% [", low, ", ", high, "]");
      cell.append(interval);
    }
  }

  // A budget is one the slider can show: within this page's range (scaling report --range), itself
  // within what `scaling plan` plans for; anything else is refused with a sentence, not clamped.
  const lowest = Math.max(lowFlops, K.min_flops), highest = Math.min(highFlops, K.max_flops);
  function budgetError(value, text) {
    if (!(value > 0 && Number.isFinite(value))) return "not a budget: '" + text + "' (give a positive number, e.g. 1e22).";
    if (value < lowest || value > highest) {
      return sig(value, 3) + " FLOPs is outside this page's budgets, " + sig(lowest, 3) + " to " + sig(highest, 3) +
             " FLOPs (scaling report --range LO:HI sets them).";
    }
    return null;
  }

  // Every number of the table blanked: after a refused input no earlier answer stays on screen.
  function blank() {
    for (const { row } of rows) {
      for (const td of row.cells) if (td.className !== "label" && td.className !== "convention") show(td, null, "-", null);
    }
  }

  let flops = DATA.budget;
  function update(source) {
    errors.length = 0;
    const hw = hardware();
    let candidate = flops;
    flopsInput.classList.remove("bad"); hoursInput.classList.remove("bad");
    if (source === "hours" && hw) {
      const hours = typed(hoursInput);
      candidate = hours * K.seconds_per_hour * K.gpu_peak_flops[hw.gpu] * hw.mfu;
      const problem = hours > 0 && Number.isFinite(hours) ? budgetError(candidate, hoursInput.value)
                                                          : "not a number of GPU-hours: '" + hoursInput.value + "'.";
      if (problem) refuse(hoursInput, problem);
    } else if (source === "flops") {
      candidate = typed(flopsInput);
      const problem = budgetError(candidate, flopsInput.value);
      if (problem) refuse(flopsInput, problem);
    } else if (source === "slider") {
      candidate = Math.pow(10, Number(slider.value));
    }
    $("input-error").textContent = errors.join(" ");
    if (errors.length || !hw) { blank(); return; }
    flops = candidate;
    budgetOut.dataset.flops = String(flops);
    budgetOut.textContent = sig(flops, 3) + " FLOPs";
    if (source !== "slider") slider.value = Math.log10(flops);
    if (source !== "flops") flopsInput.value = sig(flops, 4);
    if (source !== "hours") hoursInput.value = sig(flops / flopsPerGpuHour(hw), 4);
    $("hardware-note").textContent = hw.gpus + " x " + hw.gpu + " at MFU " + hw.mfu + ": " +
      sig(hw.gpus * K.gpu_peak_flops[hw.gpu] * hw.mfu, 3) + " FLOP/s achieved";
    for (const { law, row } of rows) {
      const plan = planOne(law, flops, hw), spans = plan.spans, level = law.level;
      const cell = (name) => row.querySelector("td." + name);
      show(cell("params"), plan.params, si(plan.params), spans && spans.params, si, level);
      show(cell("tokens"), plan.tokens, si(plan.tokens), spans && spans.tokens, si, level);
      show(cell("tokens-per-param"), plan.tokensPerParam, sig(plan.tokensPerParam, 3), null);
      // The loss and its interval to the same decimals (2.304 [2.299, 2.310], not [2.299, 2.31]).
      const decimals = plan.loss === null ? 0 : decimalsFor(plan.loss, 4);
      show(cell("loss"), plan.loss, plan.loss === null ? "-" : plan.loss.toFixed(decimals), spans && spans.loss,
           (x) => (Number.isFinite(x) ? x.toFixed(decimals) : sig(x, 4)), level);
      show(cell("gpu-hours"), plan.gpuHours, si(plan.gpuHours), null);
      show(cell("days"), plan.days, sig(plan.days, 3), null);
      show(cell("dollars"), plan.dollars, plan.dollars === null ? "-" : "$" + si(plan.dollars), null);
    }
  }

  slider.addEventListener("input", () => update("slider"));
  flopsInput.addEventListener("change", () => update("flops"));
  hoursInput.addEventListener("change", () => update("hours"));
  for (const input of [gpuSelect, gpusInput, mfuInput, priceInput]) input.addEventListener("input", () => update("hardware"));
  update("init");
  document.body.dataset.ready = "true";
})();
