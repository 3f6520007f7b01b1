# Degradation stage (issue 4): rules are added here.
