-- Report "核心事件时间轴": the market around each 2024 tightening event, in trading days
-- from its effective day (-20, -5, 0, +5, +20): short balance and its change from day 0.
select
    events.event_id,
    events.title_zh,
    windows.offset_trading_days,
    windows.trade_date,
    round(windows.short_balance_cny / 1e8, 1) as short_balance_100m_cny,
    round(windows.short_balance_change_from_event_ratio * 100, 1) as change_from_event_day_pct,
    round(windows.short_to_float_ratio * 100, 4) as short_to_float_pct,
from marts.fct_policy_event_window as windows
inner join marts.dim_policy_event as events using (event_id)
where events.short_selling_direction = 'tighten'
    and year(events.effective_date) = 2024
    and windows.offset_trading_days in (-20, -5, 0, 5, 20)
order by events.effective_date, windows.offset_trading_days;
