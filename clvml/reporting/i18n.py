"""Texts of the marketer report in English and Spanish.

Every visible string of the report comes from :data:`STRINGS`; both languages
have the same keys (a test checks it). Placeholders use :meth:`str.format`
names. Numbers are formatted by :func:`fmt_number` with the language's
decimal and thousands separators (``1,234.5`` / ``1.234,5``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = [
    "CURRENCY_SYMBOLS",
    "LANGUAGES",
    "STRINGS",
    "cell_text",
    "check_currency",
    "fmt_money",
    "fmt_number",
    "fmt_pct",
    "tier_name",
    "translator",
]

LANGUAGES = ("en", "es")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer lifetime value report",
        "subtitle": "Scores of {n} customers{model}{as_of}",
        "model_part": " by model {name} version {version}",
        "as_of_part": ", features as of {as_of}",
        "generated": "Generated {when} by clvml {version}.",
        "toc": "Contents",
        # headline
        "h_headline": "Headline figures",
        "k_customers": "Customers scored",
        "k_total_clv": "Total predicted value",
        "k_mean_clv": "Average value per customer",
        "k_top10_share": "Share of value in the top 10%",
        "k_at_risk": "Customers at high churn risk",
        "k_value_at_risk": "Value held by high-risk customers",
        "c_headline": (
            "Predicted value is what each customer is expected to spend over the model's horizon. "
            "A small group usually holds most of it: the top 10% of customers hold {top10} of the "
            "total. {at_risk} customers are likely to stop buying; together they hold {var} of "
            "predicted value."
        ),
        # distribution
        "h_distribution": "How predicted value is spread",
        "c_distribution": (
            "Each bar counts the customers in a range of predicted value (log scale: every tick "
            "is ten times the previous one). The median customer is worth {median}; the mean, "
            "{mean}, is pulled up by a few very valuable customers."
        ),
        "x_clv": "Predicted customer lifetime value",
        "y_customers": "Customers",
        # tiers
        "h_tiers": "Value tiers",
        "c_tiers": (
            "Customers ranked by predicted value and cut into tiers. Compare each tier's share of "
            "customers (light) with its share of value (dark): the top 1% alone hold {top1} of "
            "the value."
        ),
        "seg_record": (
            "Tiers and segments are the ones stored with the scores: the model's thresholds, "
            "fixed at training, as written to the CRM."
        ),
        "seg_scheme": (
            "The scores hold no tiers or segments: they were placed with the thresholds stored "
            "with model {model}, as a scoring run would."
        ),
        "seg_ranked": (
            "The scores hold no tiers or segments and no model thresholds were found: customers "
            "are ranked among themselves here, which can differ from the CRM."
        ),
        "share_customers": "Share of customers",
        "share_value": "Share of value",
        "tier": "Tier",
        "n_customers": "Customers",
        "mean_clv": "Mean value",
        "mean_risk": "Mean churn risk",
        # matrix
        "h_matrix": "Value x churn risk: who needs what",
        "c_matrix": (
            "Each cell combines a value level (rows) with a churn-risk level (columns). Numbers "
            "are customers; the colour is the share of predicted value in the cell. The table "
            "below recommends an action for every cell: start with high value and high risk."
        ),
        "value_level": "Value",
        "risk_level": "Churn risk",
        "level_high": "high",
        "level_medium": "medium",
        "level_low": "low",
        "cell": "Segment",
        "action": "Recommended action",
        # channels
        "h_channels": "LTV:CAC by acquisition channel",
        "c_channels": (
            "Predicted value per unit of acquisition cost, by the channel that brought the "
            "customer in. The dashed line is the 3:1 rule of thumb: channels above it pay back "
            "their acquisition cost comfortably; {n_below} of {n_channels} channels fall below it."
        ),
        "channel": "Channel",
        "ltv_mean": "Mean value",
        "cac_mean": "Mean acquisition cost",
        "ltv_cac": "LTV:CAC",
        "verdict": "3:1 rule",
        "healthy": "meets 3:1",
        "below": "below 3:1",
        "no_channels": (
            "Not shown: the report needs the customers table (acquisition channel and cost); "
            "pass --data with a customers file."
        ),
        # social impact
        "h_impact": "Social care impact",
        "c_impact": (
            "What answering customers on social channels did for retention, measured against a "
            "randomised control group the care team did not answer (cut-off {cutoff}, "
            "{weeks} weeks after it). The bars show the share of customers who bought again, "
            "with 95% intervals. The causal effect is the difference between answered and "
            "control customers who asked for help: {itt} (percentage points) of retention."
        ),
        "impact_missing": "Not shown: {reason}.",
        "impact_no_data": (
            "the social-care measures need the transactions, engagement and customers tables "
            "(pass --data)"
        ),
        "impact_unavailable": "the social-care impact module is not available in this clvml",
        "impact_failed": "the social-care measures could not be computed ({error})",
        "g_engaged": "Answered by care",
        "g_not_engaged": "Not in contact",
        "g_control": "Control group",
        "y_retention": "Bought again in the holdout",
        "measure": "Measure",
        "estimate": "Estimate",
        "interval": "95% interval",
        "m_itt": "Causal effect on retention (answered arm minus control, eligible customers)",
        "m_naive": "Naive difference engaged minus not (biased by who asks for help)",
        "m_saving": "Care cost saved against handling the contacts by phone",
        "m_deflection": "Self-help views not followed by a contact",
        "m_saves": "Extra at-risk customers kept thanks to care",
        "m_praise": "Complaints turned into praise: answered minus control",
        "m_cross_sell": "Incremental revenue of answered customers",
        "all_figures": "All social-care figures",
        # top at risk
        "h_top_risk": "High-value customers at risk",
        "c_top_risk": (
            "The {n} most valuable customers in the high-value, high-risk cell: candidates for "
            "personal outreach by the social care team this week."
        ),
        "customer": "Customer",
        "clv": "Predicted value",
        "churn_probability": "Churn risk",
        "p_active": "Active in horizon",
        "p_alive_btyd": "P(alive), BTYD (raw)",
        "c_alive_caveat": (
            "Active in horizon is the probability of at least one purchase over the model's "
            "horizon: 100% minus the churn risk, the same notion as the churn label. "
            "P(alive), BTYD (raw) is the BTYD model's probability that the customer has not "
            "left by the scoring date; BG/NBD sets it to 100% for every customer who bought "
            "only once (its assumption), so it is shown for reference, not to act on."
        ),
        "none_at_risk": "No customer is both high value and high risk.",
        # performance
        "h_performance": "How good is the model?",
        "c_performance": (
            "Measured on a holdout period the model did not see. Normalised Gini and Spearman "
            "say how well the model ranks customers (1 = perfect order, 0 = random); top-decile "
            "capture is the share of actual holdout revenue made by the 10% of customers the "
            "model ranked highest; MAE is the mean absolute error per customer; total bias the "
            "relative error of the predicted total."
        ),
        "metric": "Metric",
        "value": "Value",
        "method": "Method",
        "performance_missing": (
            "Not shown: no holdout metrics found (give --model for the MLflow run's metrics, or "
            "--comparison with a comparison table file)."
        ),
        "mt_normalized_gini": "Normalised Gini",
        "mt_spearman": "Spearman rank correlation",
        "mt_top_decile_capture": "Top-decile revenue capture",
        "mt_top20_capture": "Top-20% revenue capture",
        "mt_mae": "Mean absolute error",
        "mt_total_bias": "Total bias",
        "mt_roc_auc": "Churn ROC AUC",
        "mt_pr_auc": "Churn PR AUC",
        "mt_brier": "Churn Brier score",
        # past predictions (clvml monitor)
        "h_past": "How good were last quarter's predictions?",
        "c_past": (
            "The scores of {as_of} against what customers spent in the {weeks} weeks since "
            "(data through {through}), the predictions pro-rated to that share of the "
            "{horizon}-week horizon. Gini: how well the scores ranked customers (1 = perfect "
            "order, 0 = random); bias: predicted total / actual total - 1."
        ),
        "past_scope": "Customers",
        "past_all": "All",
        "past_n": "Count",
        "past_predicted": "Predicted",
        "past_actual": "Actual",
        "past_bias": "Bias",
        "past_gini": "Gini",
        "past_degraded": "The model is degraded: {reasons}. Retrain it (clvml train).",
        "past_healthy": "The model is within its monitoring thresholds.",
        "footer": (
            "Self-contained file: every chart is embedded, nothing is loaded from the internet."
        ),
    },
    "es": {
        "title": "Informe de valor de vida del cliente",
        "subtitle": "Puntuaciones de {n} clientes{model}{as_of}",
        "model_part": " con el modelo {name} versión {version}",
        "as_of_part": ", variables a fecha de {as_of}",
        "generated": "Generado el {when} con clvml {version}.",
        "toc": "Contenido",
        "h_headline": "Cifras clave",
        "k_customers": "Clientes puntuados",
        "k_total_clv": "Valor previsto total",
        "k_mean_clv": "Valor medio por cliente",
        "k_top10_share": "Parte del valor en el 10% superior",
        "k_at_risk": "Clientes con riesgo alto de abandono",
        "k_value_at_risk": "Valor de los clientes en riesgo alto",
        "c_headline": (
            "El valor previsto es lo que se espera que cada cliente gaste en el horizonte del "
            "modelo. Un grupo pequeño suele concentrar la mayor parte: el 10% superior de los "
            "clientes reúne {top10} del total. {at_risk} clientes probablemente dejarán de "
            "comprar; juntos suman {var} del valor previsto."
        ),
        "h_distribution": "Cómo se reparte el valor previsto",
        "c_distribution": (
            "Cada barra cuenta los clientes en un tramo de valor previsto (escala logarítmica: "
            "cada marca es diez veces la anterior). El cliente mediano vale {median}; la media, "
            "{mean}, sube por unos pocos clientes muy valiosos."
        ),
        "x_clv": "Valor de vida del cliente previsto",
        "y_customers": "Clientes",
        "h_tiers": "Niveles de valor",
        "c_tiers": (
            "Clientes ordenados por valor previsto y divididos en niveles. Compare la parte de "
            "clientes de cada nivel (claro) con su parte del valor (oscuro): solo el 1% superior "
            "reúne {top1} del valor."
        ),
        "seg_record": (
            "Los niveles y segmentos son los guardados con las puntuaciones: los umbrales del "
            "modelo, fijados en el entrenamiento, tal como se escribieron en el CRM."
        ),
        "seg_scheme": (
            "Las puntuaciones no traen niveles ni segmentos: se asignaron con los umbrales "
            "guardados con el modelo {model}, como lo haría una puntuación."
        ),
        "seg_ranked": (
            "Las puntuaciones no traen niveles ni segmentos y no se encontraron umbrales del "
            "modelo: aquí los clientes se ordenan entre sí, lo que puede diferir del CRM."
        ),
        "share_customers": "Parte de los clientes",
        "share_value": "Parte del valor",
        "tier": "Nivel",
        "n_customers": "Clientes",
        "mean_clv": "Valor medio",
        "mean_risk": "Riesgo medio de abandono",
        "h_matrix": "Valor x riesgo de abandono: qué necesita cada cliente",
        "c_matrix": (
            "Cada celda combina un nivel de valor (filas) con un nivel de riesgo de abandono "
            "(columnas). Los números son clientes; el color es la parte del valor previsto en la "
            "celda. La tabla siguiente recomienda una acción por celda: empiece por valor alto y "
            "riesgo alto."
        ),
        "value_level": "Valor",
        "risk_level": "Riesgo de abandono",
        "level_high": "alto",
        "level_medium": "medio",
        "level_low": "bajo",
        "cell": "Segmento",
        "action": "Acción recomendada",
        "h_channels": "LTV:CAC por canal de captación",
        "c_channels": (
            "Valor previsto por unidad de coste de captación, según el canal por el que llegó el "
            "cliente. La línea discontinua es la regla práctica 3:1: los canales por encima "
            "recuperan holgadamente su coste de captación; {n_below} de {n_channels} canales "
            "quedan por debajo."
        ),
        "channel": "Canal",
        "ltv_mean": "Valor medio",
        "cac_mean": "Coste medio de captación",
        "ltv_cac": "LTV:CAC",
        "verdict": "Regla 3:1",
        "healthy": "cumple 3:1",
        "below": "por debajo de 3:1",
        "no_channels": (
            "No se muestra: el informe necesita la tabla de clientes (canal y coste de "
            "captación); indique --data con un archivo de clientes."
        ),
        "h_impact": "Impacto de la atención en redes sociales",
        "c_impact": (
            "Lo que responder a los clientes en redes sociales aportó a la retención, medido "
            "frente a un grupo de control aleatorio al que el equipo no respondió (corte "
            "{cutoff}, {weeks} semanas después). Las barras muestran la parte de clientes que "
            "volvió a comprar, con intervalos del 95%. El efecto causal es la diferencia entre "
            "los clientes atendidos y los de control que pidieron ayuda: {itt} (puntos "
            "porcentuales) de retención."
        ),
        "impact_missing": "No se muestra: {reason}.",
        "impact_no_data": (
            "las medidas de atención necesitan las tablas de transacciones, interacciones y "
            "clientes (indique --data)"
        ),
        "impact_unavailable": (
            "el módulo de impacto de la atención no está disponible en este clvml"
        ),
        "impact_failed": "no se pudieron calcular las medidas de atención ({error})",
        "g_engaged": "Atendidos",
        "g_not_engaged": "Sin contacto",
        "g_control": "Grupo de control",
        "y_retention": "Volvieron a comprar en el periodo de prueba",
        "measure": "Medida",
        "estimate": "Estimación",
        "interval": "Intervalo del 95%",
        "m_itt": "Efecto causal en la retención (atendidos menos control, clientes elegibles)",
        "m_naive": "Diferencia ingenua con y sin contacto (sesgada por quién pide ayuda)",
        "m_saving": "Coste de atención ahorrado frente a atender los contactos por teléfono",
        "m_deflection": "Consultas de autoayuda no seguidas de un contacto",
        "m_saves": "Clientes en riesgo retenidos de más gracias a la atención",
        "m_praise": "Quejas convertidas en elogios: atendidos menos control",
        "m_cross_sell": "Ingresos adicionales de los clientes atendidos",
        "all_figures": "Todas las cifras de atención",
        "h_top_risk": "Clientes de alto valor en riesgo",
        "c_top_risk": (
            "Los {n} clientes más valiosos de la celda de valor alto y riesgo alto: candidatos a "
            "un contacto personal del equipo de atención esta semana."
        ),
        "customer": "Cliente",
        "clv": "Valor previsto",
        "churn_probability": "Riesgo de abandono",
        "p_active": "Activo en el horizonte",
        "p_alive_btyd": "P(vivo), BTYD (bruta)",
        "c_alive_caveat": (
            "Activo en el horizonte es la probabilidad de al menos una compra en el horizonte "
            "del modelo: 100% menos el riesgo de abandono, la misma noción que la etiqueta de "
            "abandono. P(vivo), BTYD (bruta) es la probabilidad del modelo BTYD de que el "
            "cliente no se haya ido en la fecha de puntuación; BG/NBD la fija en 100% para "
            "todo cliente que compró una sola vez (su supuesto), por lo que se muestra como "
            "referencia, no para actuar."
        ),
        "none_at_risk": "Ningún cliente tiene a la vez valor alto y riesgo alto.",
        "h_performance": "¿Qué tan bueno es el modelo?",
        "c_performance": (
            "Medido en un periodo de prueba que el modelo no vio. El Gini normalizado y la "
            "correlación de Spearman indican cómo ordena el modelo a los clientes (1 = orden "
            "perfecto, 0 = al azar); la captura del decil superior es la parte de los ingresos "
            "reales del periodo de prueba que generó el 10% de clientes mejor valorado; el MAE "
            "es el error absoluto medio por cliente; el sesgo total, el error relativo del total "
            "previsto."
        ),
        "metric": "Métrica",
        "value": "Valor",
        "method": "Método",
        "performance_missing": (
            "No se muestra: no hay métricas del periodo de prueba (indique --model para las "
            "métricas de la ejecución de MLflow, o --comparison con una tabla de comparación)."
        ),
        "mt_normalized_gini": "Gini normalizado",
        "mt_spearman": "Correlación de rangos de Spearman",
        "mt_top_decile_capture": "Captura de ingresos del decil superior",
        "mt_top20_capture": "Captura de ingresos del 20% superior",
        "mt_mae": "Error absoluto medio",
        "mt_total_bias": "Sesgo total",
        "mt_roc_auc": "ROC AUC de abandono",
        "mt_pr_auc": "PR AUC de abandono",
        "mt_brier": "Puntuación de Brier de abandono",
        # past predictions (clvml monitor)
        "h_past": "¿Qué tan buenas fueron las previsiones del último trimestre?",
        "c_past": (
            "Las puntuaciones del {as_of} frente a lo que gastaron los clientes en las {weeks} "
            "semanas siguientes (datos hasta el {through}), con las previsiones prorrateadas a "
            "esa parte del horizonte de {horizon} semanas. Gini: qué tan bien ordenaron las "
            "puntuaciones a los clientes (1 = orden perfecto, 0 = al azar); sesgo: total "
            "previsto / total real - 1."
        ),
        "past_scope": "Clientes",
        "past_all": "Todos",
        "past_n": "Número",
        "past_predicted": "Previsto",
        "past_actual": "Real",
        "past_bias": "Sesgo",
        "past_gini": "Gini",
        "past_degraded": "El modelo se ha degradado: {reasons}. Reentrénelo (clvml train).",
        "past_healthy": "El modelo está dentro de sus umbrales de seguimiento.",
        "footer": (
            "Archivo autónomo: todos los gráficos van incluidos, no se carga nada de internet."
        ),
    },
}

#: Spanish names of the default value tiers and of the value x risk cells, with their actions
#: (the English ones are those of :mod:`clvml.segments`).
TIER_NAMES: dict[str, dict[str, str]] = {
    "es": {"top 1%": "1% superior", "top 10%": "10% superior", "next 40%": "siguiente 40%",
           "rest": "resto"},
}  # fmt: skip
CELL_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "es": {
        "Save now": (
            "Salvar ya",
            "Contacto de retención por el equipo de atención en redes: trato personal, resolver "
            "incidencias abiertas, oferta a medida",
        ),
        "Watch closely": (
            "Vigilar de cerca",
            "Contacto proactivo del equipo de atención; seguir la interacción y el sentimiento",
        ),
        "Champions": (
            "Campeones",
            "Programa de fidelidad y recomendación: acceso anticipado, premios por recomendar, "
            "reseñas",
        ),
        "Win back": ("Recuperar", "Campaña de recuperación dirigida con un incentivo moderado"),
        "Nurture": (
            "Cultivar",
            "Recomendaciones personalizadas y venta cruzada en las campañas habituales",
        ),
        "Grow": ("Hacer crecer", "Venta adicional y cruzada; invitar al programa de fidelidad"),
        "Let go gently": (
            "Dejar ir con suavidad",
            "Solo automatización de bajo coste: correo automático de recuperación, sin incentivo "
            "pagado",
        ),
        "Automate": (
            "Automatizar",
            "Cultivo automatizado de bajo coste: correo y notificaciones de la app",
        ),
        "Develop cheaply": (
            "Desarrollar con poco coste",
            "Automatización de bajo coste: bienvenida y contenidos de autoayuda, probar venta "
            "adicional",
        ),
    },
}


def tier_name(label: str, lang: str) -> str:
    """A value tier's label in ``lang`` (unknown labels are returned as they are)."""
    return TIER_NAMES.get(lang, {}).get(label, label)


def cell_text(name: str, action: str, lang: str) -> tuple[str, str]:
    """A value x risk cell's name and action in ``lang`` (unknown cells as they are)."""
    return CELL_TEXTS.get(lang, {}).get(name, (name, action))


_SEPARATORS = {"en": (".", ","), "es": (",", ".")}


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``: the text of ``key`` in ``lang``, with placeholders filled.

    Raises
    ------
    ValueError
        For a language other than ``en`` or ``es``.
    """
    if lang not in STRINGS:
        from clvml.exceptions import DataValidationError

        raise DataValidationError(f"language must be one of {list(LANGUAGES)}", example=lang)
    table = STRINGS[lang]

    def t(key: str, **values: object) -> str:
        text = table[key]
        return text.format(**values) if values else text

    return t


def fmt_number(x: float, lang: str, digits: int = 0) -> str:
    """``x`` with the language's separators (``1,234.5`` in English, ``1.234,5`` in Spanish)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "\u2013" if x is None or math.isnan(x) else ("∞" if x > 0 else "-∞")
    text = f"{x:,.{digits}f}"
    dec, thousands = _SEPARATORS[lang]
    return text.replace(",", "\0").replace(".", dec).replace("\0", thousands)


def fmt_pct(x: float, lang: str, digits: int = 1) -> str:
    """A share as a percentage (``0.253`` -> ``25.3%`` / ``25,3 %``)."""
    if x is None or not math.isfinite(x):
        return "\u2013"
    return fmt_number(100 * x, lang, digits) + ("%" if lang == "en" else "\u00a0%")


#: Symbols of common ISO 4217 codes; any other code is written out (``1,234 CHF``).
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "BRL": "R$"}


def check_currency(currency: str | None) -> str | None:
    """``None`` or a three-letter ISO 4217 code, upper-cased.

    Raises
    ------
    DataValidationError
        Anything else (the message names ``--currency`` and the form expected).
    """
    if currency is None or currency == "":
        return None
    code = str(currency).strip().upper()
    if len(code) != 3 or not code.isalpha():
        from clvml.exceptions import DataValidationError

        raise DataValidationError(
            f"--currency={currency!r} is not an ISO 4217 code; expected three letters such as "
            "USD, EUR or GBP"
        )
    return code


def fmt_money(x: float, lang: str, currency: str | None = None) -> str:
    """An amount with two decimals below 1,000 and none from 1,000 on, in ``currency``.

    English puts a symbol before the number (``$1,234``, ``€12.50``) and a code after it
    (``1,234 CHF``); Spanish puts either after it (``1.234 €``). Without a currency, the
    number alone.

    >>> fmt_money(5166.0, "en", "USD"), fmt_money(12.5, "es", "EUR"), fmt_money(-3.0, "en", "CHF")
    ('$5,166', '12,50\xa0€', '-3.00 CHF')
    """
    if x is None or not math.isfinite(x):
        return "\u2013"
    text = fmt_number(abs(x) if currency else x, lang, 0 if abs(x) >= 1000 else 2)
    code = check_currency(currency)
    if code is None:
        return text
    sign = "-" if x < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    if lang == "en" and symbol is not None:
        return f"{sign}{symbol}{text}"
    return f"{sign}{text}{' ' if lang == 'en' else chr(0xA0)}{symbol or code}"
