"""``-m statistic``: saved text, -L text (with and without -n), refusals.

Every expected value below was read off iptables-legacy 1.8.9 (the oracle) in a network
namespace: ``iptables-legacy -A INPUT RULE``, then ``iptables-legacy-save`` and ``-L INPUT
[-n]``; refusals are its exact stderr. Probabilities print as the 32-bit value the kernel keeps
(0.2 -> 0.20000000019).
"""

from __future__ import annotations

import pytest

from tests.unit.ext_harness import accepted_and_refused_tests

pytestmark = pytest.mark.unit


ACCEPTED = [
    (
        '-m statistic --mode random --probability 0.5',
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        '-m statistic --mode random ! --probability 0.50000000000',
        '-m statistic --mode random ! --probability 0.50000000000',
        ' statistic mode random ! probability 0.50000000000',
        ' statistic mode random ! probability 0.50000000000',
    ),
    (
        '-m statistic --mode random --probability 1',
        '-m statistic --mode random --probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
    ),
    (
        '-m statistic --mode random --probability 0',
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        '-m statistic --mode random --probability 0.33333',
        '-m statistic --mode random --probability 0.33332999982',
        ' statistic mode random probability 0.33332999982',
        ' statistic mode random probability 0.33332999982',
    ),
    (
        '-m statistic --mode random --probability 0.3333333333',
        '-m statistic --mode random --probability 0.33333333349',
        ' statistic mode random probability 0.33333333349',
        ' statistic mode random probability 0.33333333349',
    ),
    (
        '-m statistic --mode random --probability 0.2',
        '-m statistic --mode random --probability 0.20000000019',
        ' statistic mode random probability 0.20000000019',
        ' statistic mode random probability 0.20000000019',
    ),
    (
        '-m statistic --mode random --probability 0.25',
        '-m statistic --mode random --probability 0.25000000000',
        ' statistic mode random probability 0.25000000000',
        ' statistic mode random probability 0.25000000000',
    ),
    (
        '-m statistic --mode random --probability 1e-3',
        '-m statistic --mode random --probability 0.00100000016',
        ' statistic mode random probability 0.00100000016',
        ' statistic mode random probability 0.00100000016',
    ),
    (
        '-m statistic --mode random --probability 0x0.8',
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        '-m statistic --mode random --probability " 0.5"',
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        '-m statistic --mode random --probability nan',
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        '-m statistic --mode nth --every 5 --packet 2',
        '-m statistic --mode nth --every 5 --packet 2',
        ' statistic mode nth every 5 packet 2',
        ' statistic mode nth every 5 packet 2',
    ),
    (
        '-m statistic --mode nth ! --every 5 --packet 2',
        '-m statistic --mode nth ! --every 5 --packet 2',
        ' statistic mode nth ! every 5 packet 2',
        ' statistic mode nth ! every 5 packet 2',
    ),
    (
        '-m statistic --mode nth --every 5 --packet 4',
        '-m statistic --mode nth --every 5 --packet 4',
        ' statistic mode nth every 5 packet 4',
        ' statistic mode nth every 5 packet 4',
    ),
    (
        '-m statistic --mode nth --every 2 --packet 0',
        '-m statistic --mode nth --every 2 --packet 0',
        ' statistic mode nth every 2',
        ' statistic mode nth every 2',
    ),
    (
        '-m statistic --mode nth --every 0x10 --packet 010',
        '-m statistic --mode nth --every 16 --packet 8',
        ' statistic mode nth every 16 packet 8',
        ' statistic mode nth every 16 packet 8',
    ),
    (
        '-m statistic --mode random --probability 0.99999999999',
        '-m statistic --mode random --probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
    ),
    (
        '-m statistic --mode random --probability 0.999999999999',
        '-m statistic --mode random --probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
    ),
    (
        '-m statistic --mode random --probability 0.0000000001',
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        '-m statistic --mode random --probability 1.0',
        '-m statistic --mode random --probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
    ),
    (
        '-m statistic --mode random --probability 0.1',
        '-m statistic --mode random --probability 0.10000000009',
        ' statistic mode random probability 0.10000000009',
        ' statistic mode random probability 0.10000000009',
    ),
    (
        '-m statistic --mode random --probability 0.7',
        '-m statistic --mode random --probability 0.70000000019',
        ' statistic mode random probability 0.70000000019',
        ' statistic mode random probability 0.70000000019',
    ),
    (
        '-m statistic --mode random --probability 0.9',
        '-m statistic --mode random --probability 0.89999999991',
        ' statistic mode random probability 0.89999999991',
        ' statistic mode random probability 0.89999999991',
    ),
    (
        '-m statistic --mode random --probability 0.05',
        '-m statistic --mode random --probability 0.04999999981',
        ' statistic mode random probability 0.04999999981',
        ' statistic mode random probability 0.04999999981',
    ),
    (
        '-m statistic --mode random --probability 0.125',
        '-m statistic --mode random --probability 0.12500000000',
        ' statistic mode random probability 0.12500000000',
        ' statistic mode random probability 0.12500000000',
    ),
    (
        '-m statistic --mode random --probability 0.6666666667',
        '-m statistic --mode random --probability 0.66666666651',
        ' statistic mode random probability 0.66666666651',
        ' statistic mode random probability 0.66666666651',
    ),
    (
        '-m statistic --mode random --probability 0.13042279608514273',
        '-m statistic --mode random --probability 0.13042279612',
        ' statistic mode random probability 0.13042279612',
        ' statistic mode random probability 0.13042279612',
    ),
    (
        '-m statistic --mode random --probability 0.6055995301393269',
        '-m statistic --mode random --probability 0.60559953004',
        ' statistic mode random probability 0.60559953004',
        ' statistic mode random probability 0.60559953004',
    ),
    (
        '-m statistic --mode random --probability 0.1917441039952995',
        '-m statistic --mode random --probability 0.19174410403',
        ' statistic mode random probability 0.19174410403',
        ' statistic mode random probability 0.19174410403',
    ),
    (
        '-m statistic --mode random --probability 0.540973886',
        '-m statistic --mode random --probability 0.54097388592',
        ' statistic mode random probability 0.54097388592',
        ' statistic mode random probability 0.54097388592',
    ),
    (
        '-m statistic --mode random --probability 0.8680453071432968',
        '-m statistic --mode random --probability 0.86804530723',
        ' statistic mode random probability 0.86804530723',
        ' statistic mode random probability 0.86804530723',
    ),
    (
        '-m statistic --mode random --probability 0.7412518562',
        '-m statistic --mode random --probability 0.74125185609',
        ' statistic mode random probability 0.74125185609',
        ' statistic mode random probability 0.74125185609',
    ),
    (
        '-m statistic --mode random --probability 0.7582302463',
        '-m statistic --mode random --probability 0.75823024614',
        ' statistic mode random probability 0.75823024614',
        ' statistic mode random probability 0.75823024614',
    ),
    (
        '-m statistic --mode random --probability 0.47274908866546683',
        '-m statistic --mode random --probability 0.47274908889',
        ' statistic mode random probability 0.47274908889',
        ' statistic mode random probability 0.47274908889',
    ),
    (
        '-m statistic --mode random --probability 0.3949634040007439',
        '-m statistic --mode random --probability 0.39496340416',
        ' statistic mode random probability 0.39496340416',
        ' statistic mode random probability 0.39496340416',
    ),
    (
        '-m statistic --mode random --probability 0.964',
        '-m statistic --mode random --probability 0.96400000015',
        ' statistic mode random probability 0.96400000015',
        ' statistic mode random probability 0.96400000015',
    ),
    (
        '-m statistic --mode random --probability 0.21698694123313733',
        '-m statistic --mode random --probability 0.21698694117',
        ' statistic mode random probability 0.21698694117',
        ' statistic mode random probability 0.21698694117',
    ),
    (
        '-m statistic --mode random --probability 0.42114851256640984',
        '-m statistic --mode random --probability 0.42114851251',
        ' statistic mode random probability 0.42114851251',
        ' statistic mode random probability 0.42114851251',
    ),
    (
        '-m statistic --mode random --probability 0.574022735',
        '-m statistic --mode random --probability 0.57402273500',
        ' statistic mode random probability 0.57402273500',
        ' statistic mode random probability 0.57402273500',
    ),
    (
        '-m statistic --mode random --probability 0.90420177085',
        '-m statistic --mode random --probability 0.90420177067',
        ' statistic mode random probability 0.90420177067',
        ' statistic mode random probability 0.90420177067',
    ),
    (
        '-m statistic --mode random --probability 0.8564005664',
        '-m statistic --mode random --probability 0.85640056618',
        ' statistic mode random probability 0.85640056618',
        ' statistic mode random probability 0.85640056618',
    ),
    (
        '-m statistic --mode random --probability 0.698616',
        '-m statistic --mode random --probability 0.69861599989',
        ' statistic mode random probability 0.69861599989',
        ' statistic mode random probability 0.69861599989',
    ),
    (
        '-m statistic --mode random --probability 0.632975904879033',
        '-m statistic --mode random --probability 0.63297590474',
        ' statistic mode random probability 0.63297590474',
        ' statistic mode random probability 0.63297590474',
    ),
    (
        '-m statistic --mode random --probability 0.4820014227475411',
        '-m statistic --mode random --probability 0.48200142290',
        ' statistic mode random probability 0.48200142290',
        ' statistic mode random probability 0.48200142290',
    ),
    (
        '-m statistic --mode random --probability 0.09',
        '-m statistic --mode random --probability 0.08999999985',
        ' statistic mode random probability 0.08999999985',
        ' statistic mode random probability 0.08999999985',
    ),
    (
        '-m statistic --mode random --probability 0.0201254',
        '-m statistic --mode random --probability 0.02012539981',
        ' statistic mode random probability 0.02012539981',
        ' statistic mode random probability 0.02012539981',
    ),
    (
        '-m statistic --mode random --probability 0.7616345289717632',
        '-m statistic --mode random --probability 0.76163452910',
        ' statistic mode random probability 0.76163452910',
        ' statistic mode random probability 0.76163452910',
    ),
    (
        '-m statistic --mode random --probability 0.550851441032479',
        '-m statistic --mode random --probability 0.55085144099',
        ' statistic mode random probability 0.55085144099',
        ' statistic mode random probability 0.55085144099',
    ),
    (
        '-m statistic --mode random --probability 0.5',
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        '-m statistic --mode random --probability 0.108119306',
        '-m statistic --mode random --probability 0.10811930615',
        ' statistic mode random probability 0.10811930615',
        ' statistic mode random probability 0.10811930615',
    ),
    (
        '-m statistic --mode random --probability 0.97143',
        '-m statistic --mode random --probability 0.97142999992',
        ' statistic mode random probability 0.97142999992',
        ' statistic mode random probability 0.97142999992',
    ),
    (
        '-m statistic --mode random --probability 0.689733',
        '-m statistic --mode random --probability 0.68973300001',
        ' statistic mode random probability 0.68973300001',
        ' statistic mode random probability 0.68973300001',
    ),
    (
        '-m statistic --mode random --probability 0.3767512176961424',
        '-m statistic --mode random --probability 0.37675121753',
        ' statistic mode random probability 0.37675121753',
        ' statistic mode random probability 0.37675121753',
    ),
    (
        '-m statistic --mode random --probability 0.6438887184',
        '-m statistic --mode random --probability 0.64388871845',
        ' statistic mode random probability 0.64388871845',
        ' statistic mode random probability 0.64388871845',
    ),
    (
        '-m statistic --mode random --probability 0.620126135',
        '-m statistic --mode random --probability 0.62012613518',
        ' statistic mode random probability 0.62012613518',
        ' statistic mode random probability 0.62012613518',
    ),
    (
        '-m statistic --mode random --probability 0.9777973164486353',
        '-m statistic --mode random --probability 0.97779731639',
        ' statistic mode random probability 0.97779731639',
        ' statistic mode random probability 0.97779731639',
    ),
    (
        '-m statistic --mode random --probability 0.7883964658916767',
        '-m statistic --mode random --probability 0.78839646606',
        ' statistic mode random probability 0.78839646606',
        ' statistic mode random probability 0.78839646606',
    ),
    (
        '-m statistic --mode random --probability 0.0200528903',
        '-m statistic --mode random --probability 0.02005289029',
        ' statistic mode random probability 0.02005289029',
        ' statistic mode random probability 0.02005289029',
    ),
    (
        '-m statistic --mode random --probability 0.3324508403707327',
        '-m statistic --mode random --probability 0.33245084016',
        ' statistic mode random probability 0.33245084016',
        ' statistic mode random probability 0.33245084016',
    ),
    (
        '-m statistic --mode random --probability 0.6088639177899826',
        '-m statistic --mode random --probability 0.60886391765',
        ' statistic mode random probability 0.60886391765',
        ' statistic mode random probability 0.60886391765',
    ),
    (
        '-m statistic --mode random --probability 0.7',
        '-m statistic --mode random --probability 0.70000000019',
        ' statistic mode random probability 0.70000000019',
        ' statistic mode random probability 0.70000000019',
    ),
    (
        '-m statistic --mode random --probability 0.6279693428897271',
        '-m statistic --mode random --probability 0.62796934275',
        ' statistic mode random probability 0.62796934275',
        ' statistic mode random probability 0.62796934275',
    ),
    (
        '-m statistic --mode random --probability 0.592672',
        '-m statistic --mode random --probability 0.59267200017',
        ' statistic mode random probability 0.59267200017',
        ' statistic mode random probability 0.59267200017',
    ),
    (
        '-m statistic --mode random --probability 0.843840946224492',
        '-m statistic --mode random --probability 0.84384094644',
        ' statistic mode random probability 0.84384094644',
        ' statistic mode random probability 0.84384094644',
    ),
    (
        '-m statistic --mode random --probability 0.300404',
        '-m statistic --mode random --probability 0.30040400010',
        ' statistic mode random probability 0.30040400010',
        ' statistic mode random probability 0.30040400010',
    ),
    (
        '-m statistic --mode random --probability 0.7351731816785095',
        '-m statistic --mode random --probability 0.73517318163',
        ' statistic mode random probability 0.73517318163',
        ' statistic mode random probability 0.73517318163',
    ),
    (
        '-m statistic --mode random --probability 0.50001071559',
        '-m statistic --mode random --probability 0.50001071580',
        ' statistic mode random probability 0.50001071580',
        ' statistic mode random probability 0.50001071580',
    ),
    (
        '-m statistic --mode random --probability 0.32778643211',
        '-m statistic --mode random --probability 0.32778643211',
        ' statistic mode random probability 0.32778643211',
        ' statistic mode random probability 0.32778643211',
    ),
    (
        '-m statistic --mode random --probability 0.101842',
        '-m statistic --mode random --probability 0.10184200015',
        ' statistic mode random probability 0.10184200015',
        ' statistic mode random probability 0.10184200015',
    ),
    (
        '-m statistic --mode random --probability 0.438',
        '-m statistic --mode random --probability 0.43800000008',
        ' statistic mode random probability 0.43800000008',
        ' statistic mode random probability 0.43800000008',
    ),
    (
        '-m statistic --mode random --probability 0.88489827',
        '-m statistic --mode random --probability 0.88489827001',
        ' statistic mode random probability 0.88489827001',
        ' statistic mode random probability 0.88489827001',
    ),
    (
        '-m statistic --mode random --probability 0.0339',
        '-m statistic --mode random --probability 0.03390000015',
        ' statistic mode random probability 0.03390000015',
        ' statistic mode random probability 0.03390000015',
    ),
    (
        '-m statistic --mode random --probability 0.863728',
        '-m statistic --mode random --probability 0.86372799985',
        ' statistic mode random probability 0.86372799985',
        ' statistic mode random probability 0.86372799985',
    ),
    (
        '-m statistic --mode random --probability 0.5894807512289966',
        '-m statistic --mode random --probability 0.58948075119',
        ' statistic mode random probability 0.58948075119',
        ' statistic mode random probability 0.58948075119',
    ),
    (
        '-m statistic --mode random --probability 0.4647207956489494',
        '-m statistic --mode random --probability 0.46472079586',
        ' statistic mode random probability 0.46472079586',
        ' statistic mode random probability 0.46472079586',
    ),
    (
        '-m statistic --mode random --probability 0.4095221164490599',
        '-m statistic --mode random --probability 0.40952211665',
        ' statistic mode random probability 0.40952211665',
        ' statistic mode random probability 0.40952211665',
    ),
    (
        '-m statistic --mode random --probability 0.47735252934148775',
        '-m statistic --mode random --probability 0.47735252930',
        ' statistic mode random probability 0.47735252930',
        ' statistic mode random probability 0.47735252930',
    ),
    (
        '-m statistic --mode random --probability 0.22209073627232123',
        '-m statistic --mode random --probability 0.22209073650',
        ' statistic mode random probability 0.22209073650',
        ' statistic mode random probability 0.22209073650',
    ),
    (
        '-m statistic --mode random --probability 0.7480144315884633',
        '-m statistic --mode random --probability 0.74801443145',
        ' statistic mode random probability 0.74801443145',
        ' statistic mode random probability 0.74801443145',
    ),
    (
        '-m statistic --mode random --probability 0.861531124026087',
        '-m statistic --mode random --probability 0.86153112398',
        ' statistic mode random probability 0.86153112398',
        ' statistic mode random probability 0.86153112398',
    ),
    (
        '-m statistic --mode random --probability 0.12',
        '-m statistic --mode random --probability 0.12000000011',
        ' statistic mode random probability 0.12000000011',
        ' statistic mode random probability 0.12000000011',
    ),
    (
        '-m statistic --mode random --probability 0.8965672',
        '-m statistic --mode random --probability 0.89656719984',
        ' statistic mode random probability 0.89656719984',
        ' statistic mode random probability 0.89656719984',
    ),
    (
        '-m statistic --mode random --probability 0.17182159053673707',
        '-m statistic --mode random --probability 0.17182159051',
        ' statistic mode random probability 0.17182159051',
        ' statistic mode random probability 0.17182159051',
    ),
    (
        '-m statistic --mode random --probability 0.5249641354158249',
        '-m statistic --mode random --probability 0.52496413561',
        ' statistic mode random probability 0.52496413561',
        ' statistic mode random probability 0.52496413561',
    ),
    (
        '-m statistic --mode random --probability 0.0532466243',
        '-m statistic --mode random --probability 0.05324662430',
        ' statistic mode random probability 0.05324662430',
        ' statistic mode random probability 0.05324662430',
    ),
    (
        '-m statistic --mode random --probability 0.252474844',
        '-m statistic --mode random --probability 0.25247484399',
        ' statistic mode random probability 0.25247484399',
        ' statistic mode random probability 0.25247484399',
    ),
    (
        "-m statistic --mode random --probability '0.5e0'",
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        "-m statistic --mode random --probability '.5'",
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        "-m statistic --mode random --probability '0X0.8P0'",
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        "-m statistic --mode random --probability '0x1p-1'",
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        "-m statistic --mode random --probability '-0'",
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        "-m statistic --mode random --probability '-0.0'",
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        "-m statistic --mode random --probability '+0.5'",
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        "-m statistic --mode random --probability '1e0'",
        '-m statistic --mode random --probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
    ),
    (
        "-m statistic --mode random --probability 'NaN'",
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        "-m statistic --mode random --probability 'nan(123)'",
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        "-m statistic --mode random --probability '-nan'",
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        "-m statistic --mode random --probability '0.'",
        '-m statistic --mode random --probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
        ' statistic mode random probability 0.00000000000',
    ),
    (
        "-m statistic --mode random --probability '0x.8'",
        '-m statistic --mode random --probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
        ' statistic mode random probability 0.50000000000',
    ),
    (
        "-m statistic --mode random --probability '0.99999999999999999999'",
        '-m statistic --mode random --probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
        ' statistic mode random probability 1.00000000000',
    ),
    (
        "-m statistic --mode random --probability '0.0000000002328306436538696289'",
        '-m statistic --mode random --probability 0.00000000047',
        ' statistic mode random probability 0.00000000047',
        ' statistic mode random probability 0.00000000047',
    ),
    (
        "-m statistic --mode nth --every ' 5' --packet 1",
        '-m statistic --mode nth --every 5 --packet 1',
        ' statistic mode nth every 5 packet 1',
        ' statistic mode nth every 5 packet 1',
    ),
    (
        "-m statistic --mode nth --every 9 --packet ' 5'",
        '-m statistic --mode nth --every 9 --packet 5',
        ' statistic mode nth every 9 packet 5',
        ' statistic mode nth every 9 packet 5',
    ),
    (
        "-m statistic --mode nth --every '+5' --packet 1",
        '-m statistic --mode nth --every 5 --packet 1',
        ' statistic mode nth every 5 packet 1',
        ' statistic mode nth every 5 packet 1',
    ),
    (
        "-m statistic --mode nth --every 9 --packet '+5'",
        '-m statistic --mode nth --every 9 --packet 5',
        ' statistic mode nth every 9 packet 5',
        ' statistic mode nth every 9 packet 5',
    ),
    (
        "-m statistic --mode nth --every '0x5' --packet 1",
        '-m statistic --mode nth --every 5 --packet 1',
        ' statistic mode nth every 5 packet 1',
        ' statistic mode nth every 5 packet 1',
    ),
    (
        "-m statistic --mode nth --every 9 --packet '0x5'",
        '-m statistic --mode nth --every 9 --packet 5',
        ' statistic mode nth every 9 packet 5',
        ' statistic mode nth every 9 packet 5',
    ),
    (
        "-m statistic --mode nth --every '05' --packet 1",
        '-m statistic --mode nth --every 5 --packet 1',
        ' statistic mode nth every 5 packet 1',
        ' statistic mode nth every 5 packet 1',
    ),
    (
        "-m statistic --mode nth --every 9 --packet '05'",
        '-m statistic --mode nth --every 9 --packet 5',
        ' statistic mode nth every 9 packet 5',
        ' statistic mode nth every 9 packet 5',
    ),
    (
        '-m statistic --mode nth --every 3 --packet 2 -m statistic --mode random --probability '
        '0.1',
        '-m statistic --mode nth --every 3 --packet 2 -m statistic --mode random --probability '
        '0.10000000009',
        ' statistic mode nth every 3 packet 2 statistic mode random probability 0.10000000009',
        ' statistic mode nth every 3 packet 2 statistic mode random probability 0.10000000009',
    ),
    (
        '-m statistic --mode nth --packet 2 --every 3',
        '-m statistic --mode nth --every 3 --packet 2',
        ' statistic mode nth every 3 packet 2',
        ' statistic mode nth every 3 packet 2',
    ),
    (
        '-m statistic --mode nth --every 1 --packet 0',
        '-m statistic --mode nth --every 1 --packet 0',
        ' statistic mode nth every 1',
        ' statistic mode nth every 1',
    ),
]

REFUSED = [
    ('-m statistic', '--probability must be specified when using random mode\n'),
    (
        '-m statistic --mode random --probability 1.1',
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        '-m statistic --mode random --probability -0.1',
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        '-m statistic --mode random --probability abc',
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        '-m statistic --mode random --probability 0.5a',
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        '-m statistic --mode random --probability ""',
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        '-m statistic --mode random --probability inf',
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    ('-m statistic --mode random', '--probability must be specified when using random mode\n'),
    ('-m statistic --probability 1', 'statistic: option "--mode" must be specified\n\n'),
    (
        '-m statistic --mode nth ! --every 5',
        'statistic: option "--every" also requires "--packet".\n\n',
    ),
    ('-m statistic --mode nth --every 5 --packet 5', 'the --packet p must be 0 <= p <= n-1\n'),
    (
        '-m statistic --mode nth --every 1',
        'statistic: option "--every" also requires "--packet".\n\n',
    ),
    (
        '-m statistic --mode nth --every 0',
        'statistic: bad value for option "--every", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m statistic --mode nth --every 4294967295',
        'statistic: option "--every" also requires "--packet".\n\n',
    ),
    (
        '-m statistic --mode nth --every 4294967296',
        'statistic: bad value for option "--every", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m statistic --mode nth --every 2 ! --packet 0',
        'statistic: option "--packet" cannot be inverted.\n\n',
    ),
    (
        '-m statistic --mode nth --every -1',
        'statistic: bad value for option "--every", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m statistic --mode nth --every a',
        'statistic: bad value for option "--every", or out of range (1-4294967295).\n\n',
    ),
    ('-m statistic --mode nth --packet 1', 'the --packet p must be 0 <= p <= n-1\n'),
    (
        '-m statistic --mode nth --every 3 --probability 0.5',
        'statistic: option "--probability" cannot be used together with "--every".\n\n',
    ),
    (
        '-m statistic --mode random --probability 0.5 --every 3',
        'statistic: option "--probability" cannot be used together with "--every".\n\n',
    ),
    (
        '-m statistic --mode random --probability 0.5 --packet 3',
        'statistic: option "--probability" cannot be used together with "--packet".\n\n',
    ),
    ('-m statistic --mode foo', 'Bad mode "foo"\n'),
    ('-m statistic --mode RANDOM --probability 0.5', 'Bad mode "RANDOM"\n'),
    (
        '-m statistic --mode random --mode nth --every 2',
        'statistic: option "--mode" can only be used once.\n\n',
    ),
    (
        '-m statistic --mode nth --mode nth --every 2',
        'statistic: option "--mode" can only be used once.\n\n',
    ),
    (
        '-m statistic ! --mode random --probability 0.5',
        'statistic: option "--mode" cannot be inverted.\n\n',
    ),
    (
        '-m statistic --mode random ! --probability 0.5 ! --probability 0.5',
        'statistic: option "--probability" can only be used once.\n\n',
    ),
    ('-m statistic --every 3', '--probability must be specified when using random mode\n'),
    ('-m statistic ! --mode nth --every 3', 'statistic: option "--mode" cannot be inverted.\n\n'),
    ('-m statistic --mode n --every 3', 'Bad mode "n"\n'),
    ('-m statistic --mo random --pro 0.5', 'unknown option "--mo"\n'),
    (
        "-m statistic --mode random --probability '5.'",
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        "-m statistic --mode random --probability '0.5 '",
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        "-m statistic --mode random --probability '\\t0.5'",
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        "-m statistic --mode random --probability 'INF'",
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        "-m statistic --mode random --probability '0x'",
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        "-m statistic --mode random --probability '1e'",
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        "-m statistic --mode random --probability '1.0000000001'",
        'statistic: bad value for option "--probability", or out of range (0-1).\n\n',
    ),
    (
        "-m statistic --mode nth --every '5 ' --packet 1",
        'statistic: bad value for option "--every", or out of range (1-4294967295).\n\n',
    ),
    (
        "-m statistic --mode nth --every 9 --packet '5 '",
        'statistic: bad value for option "--packet", or out of range (0-4294967295).\n\n',
    ),
    (
        "-m statistic --mode nth --every '-5' --packet 1",
        'statistic: bad value for option "--every", or out of range (1-4294967295).\n\n',
    ),
    (
        "-m statistic --mode nth --every 9 --packet '-5'",
        'statistic: bad value for option "--packet", or out of range (0-4294967295).\n\n',
    ),
    ('-m statistic --mode nth --every 1 --packet 1', 'the --packet p must be 0 <= p <= n-1\n'),
    (
        '-m statistic --mode random --probability 0.5 --mode nth',
        'statistic: option "--mode" can only be used once.\n\n',
    ),
]


test_accepted, test_refused = accepted_and_refused_tests(ACCEPTED, REFUSED)
