{#-
    The per-security margin detail recomputed straight from the raw frames, for the
    singular tests in tests/ that check the marts against values computed independently
    of the model SQL: no staging, no ASOF join. The last close on or before a day is
    found by bucketing quotes by the first recomputed day on or after them, taking
    each security's last quote per bucket, and carrying those forward per security; in a
    run's window, from the quotes of the 40 days before it (and, for a security with none
    there, its last one before them).

    A BSE stock that switched to a 920xxx code is keyed by its new code on every day,
    as in the models (seed bse_code_switch): a code read from a raw frame goes through
    security_code_across_bse_switch.

    day_filter: a SQL condition on `trade_date` choosing the days to recompute.
    Returns rows: trade_date, exchange, security_code, financing_balance_cny,
    short_balance_cny, close_cny, float_market_cap_cny, sw_l1_code.
-#}

{#-
    The days the independent tests recompute: every day of the run's window when one
    is set (a one-day refresh checks that day), else the last trading day of every
    month of the SSE detail (a full build checks a sample across the whole history).
-#}
{% macro independent_test_days() -%}
    {%- if run_window_is_set() -%}
        {{ run_window_where('trade_date') }}
    {%- else -%}
        trade_date in (
            select max(trade_date)
            from {{ source('raw', 'stock_margin_detail_sse') }}
            group by date_trunc('month', trade_date)
        )
    {%- endif -%}
{%- endmacro %}

{% macro independent_margin_detail(day_filter='true') %}

    raw_detail as (

        select
            trade_date,
            'SSE' as exchange,
            lpad(cast("标的证券代码" as varchar), 6, '0') as security_code,
            "融资余额" as financing_balance_cny,
            "融券余量" as short_volume_shares,
            cast(null as double) as published_short_balance_cny,
        from {{ source('raw', 'stock_margin_detail_sse') }}
        where {{ day_filter }}

        union all

        select
            trade_date,
            'SZSE',
            lpad(cast("证券代码" as varchar), 6, '0'),
            "融资余额",
            "融券余量",
            "融券余额",
        from {{ source('raw', 'stock_margin_detail_szse') }}
        where {{ day_filter }}

        union all

        select
            trade_date,
            'BSE',
            {{ security_code_across_bse_switch('lpad(cast("证券代码" as varchar), 6, \'0\')') }},
            "融资余额",
            "融券余量",
            "融券余额",
        from {{ source('raw', 'stock_margin_detail_bse') }}
        where {{ day_filter }}

    ),

    detail_days as (

        select distinct trade_date as detail_day,
        from raw_detail

    ),

    {#- A run's window is a few days at the end of the history: the quotes of the weeks
        before it are read with the date in the scan (DuckDB skips the older row groups),
        and older ones only for the securities without a quote in those weeks. A full
        build samples the whole history: every quote. -#}
    {%- set windowed = run_window_is_set() and run_window_start() != '' %}
    {%- if windowed %}
    {%- set first_day = "date '" ~ run_window_start() ~ "'" %}
    {%- set first_quote_day = first_day ~ " - interval 40 day" %}

    recent_sina_quotes as (

        -- from 40 calendar days before the window: a one-day check reads weeks of quotes
        {{ _independent_sina_quotes("date >= " ~ first_quote_day) }}

    ),

    recent_quotes as (

        select * from recent_sina_quotes
        union all
        {{ _independent_snapshot_quotes("trade_date >= " ~ first_quote_day, 'recent_sina_quotes') }}

    ),

    suspended_securities as (

        -- securities of the days checked without a quote in those weeks up to the window
        -- (a long suspension): their close is older
        select security_code from raw_detail
        except
        select security_code from recent_quotes
        where trade_date <= {{ first_day }}

    ),

    earlier_sina_quotes as (

        {{ _independent_sina_quotes(
            "date < " ~ first_quote_day
            ~ " and " ~ security_code_across_bse_switch('substr(symbol, 3)')
            ~ " in (select security_code from suspended_securities)"
        ) }}

    ),

    earlier_quotes as (

        -- the last quote of each of them before those weeks
        select
            max(trade_date) as trade_date,
            security_code,
            arg_max(close, trade_date) as close,
            arg_max(outstanding_share, trade_date) as outstanding_share,
        from (
            select * from earlier_sina_quotes
            union all
            {{ _independent_snapshot_quotes(
                "trade_date < " ~ first_quote_day
                ~ ' and ' ~ security_code_across_bse_switch('"代码"')
                ~ ' in (select security_code from suspended_securities)',
                'earlier_sina_quotes'
            ) }}
        )
        group by security_code

    ),

    considered_quotes as (

        select * from recent_quotes
        union all by name
        select * from earlier_quotes

    ),
    {%- else %}

    sina_quotes as (

        {{ _independent_sina_quotes() }}

    ),

    considered_quotes as (

        select * from sina_quotes
        union all
        {{ _independent_snapshot_quotes('true', 'sina_quotes') }}

    ),
    {%- endif %}

    quote_day_buckets as (

        -- every quote day, with the first recomputed day on or after it: a security's
        -- last quote within a bucket is its last close as of that recomputed day, if it
        -- has one there (a few thousand days, so the range join is small)
        select quote_days.trade_date as quote_day, min(detail_days.detail_day) as bucket_day,
        from (select distinct trade_date from considered_quotes) as quote_days
        inner join detail_days on detail_days.detail_day >= quote_days.trade_date
        group by quote_days.trade_date

    ),

    raw_quotes as (

        -- one row per security and bucket: a hash aggregate over the quotes, not a
        -- sort of the whole history per security
        select
            considered_quotes.security_code,
            quote_day_buckets.bucket_day as trade_date,
            arg_max(considered_quotes.close, considered_quotes.trade_date) as close,
            -- the bucket's last known float shares: a close from Sina's snapshot has none
            arg_max(considered_quotes.outstanding_share, considered_quotes.trade_date)
                filter (where considered_quotes.outstanding_share is not null)
                as outstanding_share,
        from considered_quotes
        inner join quote_day_buckets on considered_quotes.trade_date = quote_day_buckets.quote_day
        group by considered_quotes.security_code, quote_day_buckets.bucket_day

    ),

    time_ordered as (

        -- a bucket's quote sorts before the detail row of its day
        select security_code, trade_date, 0 as is_detail, close, outstanding_share,
        from raw_quotes
        union all
        select security_code, trade_date, 1, null, null,
        from raw_detail

    ),

    carried as (

        -- a security without a quote in a bucket (suspended) keeps the last one before
        select
            security_code,
            trade_date,
            last_value(close ignore nulls) over carry as last_close,
            last_value(outstanding_share ignore nulls) over carry as last_float_shares,
        from time_ordered
        window carry as (
            partition by security_code
            order by trade_date, is_detail
            rows between unbounded preceding and current row
        )
        qualify is_detail = 1

    ),

    raw_industry as (

        select
            raw_detail.trade_date,
            raw_detail.security_code,
            arg_max(left(cast(history.industry_code as varchar), 2) || '0000', history.start_date)
                as sw_l1_code,
        from raw_detail
        inner join {{ source('raw', 'stock_industry_clf_hist_sw') }} as history
            on {{ security_code_across_bse_switch("lpad(cast(history.symbol as varchar), 6, '0')") }}
                = raw_detail.security_code
            and history.start_date <= raw_detail.trade_date
        group by raw_detail.trade_date, raw_detail.security_code

    ),

    independent_detail as (

        select
            raw_detail.trade_date,
            raw_detail.exchange,
            raw_detail.security_code,
            raw_detail.financing_balance_cny,
            coalesce(
                raw_detail.published_short_balance_cny,
                case
                    when raw_detail.short_volume_shares = 0 then 0
                    else raw_detail.short_volume_shares * carried.last_close
                end
            ) as short_balance_cny,
            carried.last_close as close_cny,
            carried.last_close * carried.last_float_shares as float_market_cap_cny,
            raw_industry.sw_l1_code,
        from raw_detail
        left join carried
            on raw_detail.security_code = carried.security_code
            and raw_detail.trade_date = carried.trade_date
        left join raw_industry
            on raw_detail.security_code = raw_industry.security_code
            and raw_detail.trade_date = raw_industry.trade_date

    )

{% endmacro %}

{#- Sina's daily histories as quotes (trade_date, security_code, close, outstanding_share),
    the rows matching `where` (a condition on the raw columns date and symbol): stocks',
    and funds' (no unit count: no float shares). -#}
{% macro _independent_sina_quotes(where='true') -%}
        select
            date as trade_date,
            {{ security_code_across_bse_switch('substr(symbol, 3)') }} as security_code,
            close,
            outstanding_share,
        from {{ source('raw', 'stock_zh_a_daily') }}
        where close is not null
            and {{ where }}
        union all
        select date, substr(symbol, 3), close, cast(null as double),
        from {{ source('raw', 'fund_etf_hist_sina') }}
        where close is not null
            and {{ where }}
{%- endmacro %}

{#- The closing snapshots matching `where`, for the days and securities the Sina quotes
    in the CTE `sina_quotes` do not cover: Eastmoney's, then Sina's (taken when Eastmoney's
    was refused; no float market cap, so no float shares: the last known are carried). -#}
{% macro _independent_snapshot_quotes(where, sina_quotes) -%}
        select
            trade_date,
            {{ security_code_across_bse_switch('"代码"') }},
            "最新价",
            round("流通市值" / "最新价"),
        from {{ source('raw', 'stock_zh_a_spot_em') }} as snapshot
        where "最新价" > 0
            and {{ where }}
            and not exists (
                select 1 from {{ sina_quotes }}
                where {{ sina_quotes }}.trade_date = snapshot.trade_date
                    and {{ sina_quotes }}.security_code
                        = {{ security_code_across_bse_switch('snapshot."代码"') }}
                    -- implied by the line above, but it lets DuckDB hash the Sina keys of
                    -- the snapshots' days only, not of the whole history (far less memory
                    -- for a full build's test at ten years of the whole market)
                    and {{ sina_quotes }}.trade_date in (
                        select trade_date from {{ source('raw', 'stock_zh_a_spot_em') }}
                    )
            )
        union all
        select trade_date, substr("代码", 3), "最新价", cast(null as double),
        from {{ source('raw', 'stock_zh_a_spot') }} as fallback
        where "最新价" > 0
            and {{ where }}
            and not exists (
                select 1 from {{ source('raw', 'stock_zh_a_spot_em') }} as snapshot
                where snapshot.trade_date = fallback.trade_date and snapshot."代码" = substr(fallback."代码", 3)
            )
            and not exists (
                select 1 from {{ sina_quotes }}
                where {{ sina_quotes }}.trade_date = fallback.trade_date
                    and {{ sina_quotes }}.security_code = substr(fallback."代码", 3)
                    and {{ sina_quotes }}.trade_date in (
                        select trade_date from {{ source('raw', 'stock_zh_a_spot') }}
                    )
            )
{%- endmacro %}
