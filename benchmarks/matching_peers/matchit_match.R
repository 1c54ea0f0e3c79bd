# R's MatchIt doing reval's job: read.csv, then (timed) matchit (glm propensity score,
# 1:1 nearest neighbour without replacement on the linear logit, caliper 0.2 SD,
# largest score first), match.data, lm with the matching weights and sandwich::vcovCL
# by matched pair; prints one JSON line.
suppressPackageStartupMessages({library(MatchIt); library(sandwich)})
d <- read.csv(commandArgs(trailingOnly = TRUE)[1])
start <- proc.time()[["elapsed"]]
m <- matchit(treat ~ x1 + x2 + x3 + x4 + b, data = d, method = "nearest", distance = "glm",
             link = "linear.logit", caliper = 0.2, ratio = 1, replace = FALSE)
md <- match.data(m)
fit <- lm(y ~ treat, data = md, weights = weights)
se <- sqrt(vcovCL(fit, cluster = ~subclass)["treat", "treat"])
seconds <- proc.time()[["elapsed"]] - start
cat(sprintf('{"seconds": %.6f, "att": %.17g, "se": %.17g, "pairs": %d}\n',
            seconds, coef(fit)[["treat"]], se, sum(md$treat == 1)))
