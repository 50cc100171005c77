set terminal pngcairo size 1100,650 font 'DejaVu Sans,11'
set output 'allocs.png'
set style data histograms
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.6 border -1
set boxwidth 0.8
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set xtics rotate by -30
unset key
set multiplot layout 1,2 title "server heap allocations (median of 3 rounds; bars: min..max)"
set title 'per echo round trip'
plot 'allocs.dat' index 0 using 2:3:4:xtic(1) lc rgb '#228833', '' index 0 using 0:2:(sprintf('%.2f', $2)) with labels offset 0,0.8
set title 'per connection (churn: connect, one exchange, close)'
plot 'allocs.dat' index 1 using 2:3:4:xtic(1) lc rgb '#ccbb44', '' index 1 using 0:2:(sprintf('%.2f', $2)) with labels offset 0,0.8
unset multiplot
