set terminal pngcairo size 1100,650 font 'DejaVu Sans,11'
set output 'echo-open-latency.png'
set title "echo, open loop at 20000 messages/s for every engine: latency by percentile"
set xlabel 'percentile'
set ylabel 'latency (us)'
set logscale y
set grid xtics ytics mytics
set xtics ('0%%' 0, '50%%' 0.301, '90%%' 1, '99%%' 2, '99.9%%' 3, '99.99%%' 4, 'max' 5)
set xrange [0:5.1]
set key top left
plot 'echo-open-latency.dat' index 0 using 1:2 with linespoints pointsize 0.4 lw 2 title 'epoll', \
     'echo-open-latency.dat' index 1 using 1:2 with linespoints pointsize 0.4 lw 2 title 'libuv', \
     'echo-open-latency.dat' index 2 using 1:2 with linespoints pointsize 0.4 lw 2 title 'libevent', \
     'echo-open-latency.dat' index 3 using 1:2 with linespoints pointsize 0.4 lw 2 title 'push', \
     'echo-open-latency.dat' index 4 using 1:2 with linespoints pointsize 0.4 lw 2 title 'push-pooled', \
     'echo-open-latency.dat' index 5 using 1:2 with linespoints pointsize 0.4 lw 2 title 'poll', \
     'echo-open-latency.dat' index 6 using 1:2 with linespoints pointsize 0.4 lw 2 title 'uring', \
     'echo-open-latency.dat' index 7 using 1:2 with linespoints pointsize 0.4 lw 2 title 'push/uring', \
     'echo-open-latency.dat' index 8 using 1:2 with linespoints pointsize 0.4 lw 2 title 'poll/uring', \
     'echo-open-latency.dat' index 9 using 1:2 with linespoints pointsize 0.4 lw 2 title 'tokio', \
     'echo-open-latency.dat' index 10 using 1:2 with linespoints pointsize 0.4 lw 2 title 'tokio-mt'
