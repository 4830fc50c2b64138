impl < __Context > :: bincode :: Decode < __Context > for PoolSpec
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            name : :: bincode :: Decode :: decode(decoder) ?, kind : ::
            bincode :: Decode :: decode(decoder) ?, currency : :: bincode ::
            Decode :: decode(decoder) ?, discount : :: bincode :: Decode ::
            decode(decoder) ?, max_discount_minor : :: bincode :: Decode ::
            decode(decoder) ?, min_spend_minor : :: bincode :: Decode ::
            decode(decoder) ?, valid_from_ms : :: bincode :: Decode ::
            decode(decoder) ?, valid_until_ms : :: bincode :: Decode ::
            decode(decoder) ?, total_cap : :: bincode :: Decode ::
            decode(decoder) ?, per_member_cap : :: bincode :: Decode ::
            decode(decoder) ?, allowed_channels : :: bincode :: Decode ::
            decode(decoder) ?, allowed_stores : :: bincode :: Decode ::
            decode(decoder) ?, excluded_categories : :: bincode :: Decode ::
            decode(decoder) ?, stacking_group : :: bincode :: Decode ::
            decode(decoder) ?, partner_orgs : :: bincode :: Decode ::
            decode(decoder) ?, transferable : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for PoolSpec
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            name : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, kind : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, currency : :: bincode
            :: BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            discount : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, max_discount_minor : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            min_spend_minor : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, valid_from_ms : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            valid_until_ms : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, total_cap : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, per_member_cap :
            :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, allowed_channels : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            allowed_stores : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, excluded_categories : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            stacking_group : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, partner_orgs : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            transferable : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}