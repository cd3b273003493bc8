-- Report table "融券余额占流通市值比例较高个股 (截至24.07.10)": the securities with the
-- highest short balance / float market cap on a day, with their industry (Shenwan
-- level 2, as of that day), short balance in 亿 CNY and share of float cap in %.
select
    short_to_float_rank as rank,
    security_name,
    security_code,
    sw_l2_name as industry,
    round(short_balance_cny / 1e8, 2) as short_balance_100m_cny,
    round(short_to_float_ratio * 100, 2) as short_to_float_pct,
from marts.fct_balance_to_float
where trade_date = date '2024-07-10'
order by short_to_float_rank
limit 8;
