-- BSE's margin-eligible list, one row per trading day and listed security; SZSE's layout.
{{ stg_margin_eligibility('stock_margin_underlying_info_bse', 'BSE') }}
